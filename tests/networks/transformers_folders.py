"""Hugging Face model folders written in code: a small random Deformable DETR or RT-DETR
(tests.probe.attention_models) saved with `save_pretrained`, with an image processor config
written beside it. No network access."""

from __future__ import annotations

from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

from tests.probe.attention_models import d_fine, deformable_detr, rt_detr  # noqa: E402


def write_folder(folder: Path, kind: str = "deformable_detr", safetensors: bool = True) -> Path:
    """`folder` holding config.json, the weights and preprocessor_config.json of a float32
    model: "deformable_detr" (box refinement, two-stage; resize to shortest edge 96, longest
    160), "rt_detr" or "d_fine" (2, 4, 3 points per level) (resize to 96 x 96)."""
    if kind == "deformable_detr":
        model = deformable_detr(box_refine=True, two_stage=True)
        processor = transformers.DeformableDetrImageProcessor(
            size={"shortest_edge": 96, "longest_edge": 160})
    elif kind == "d_fine":  # 2, 4 and 3 points on its three levels
        model = d_fine([2, 4, 3])
        processor = transformers.RTDetrImageProcessor(size={"height": 96, "width": 96})
    else:
        model = rt_detr()
        processor = transformers.RTDetrImageProcessor(size={"height": 96, "width": 96})
    model.float().save_pretrained(folder)
    if not safetensors:  # the older format, as many published folders still hold it
        import torch
        from safetensors.torch import load_file

        torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    processor.save_pretrained(folder)
    return folder
