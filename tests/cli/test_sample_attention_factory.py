"""`deformviz sample --model-factory` on modules with multi-scale deformable attention: a
Hugging Face Deformable DETR built by the user's code (detections read from its outputs),
and an mmcv-lite encoder (encoder queries at pixels, cells placed by the network's own conv
arithmetic)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HF_FACTORY = '''
from deformviz.networks.preprocessing import Preprocessing
from tests.probe.attention_models import deformable_detr

def build():
    model = deformable_detr(box_refine=True, two_stage=True).float()
    return model, Preprocessing("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375),
                                None, None, 1)


def build_bare():  # the model without its detection head: outputs hold no logits
    model, preprocessing = build()
    return model.model, preprocessing
'''

MMCV_FACTORY = '''
import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention
from deformviz.networks.preprocessing import Preprocessing


class Encoder(torch.nn.Module):
    """Two levels (stride 8 and 16 input pixels) and two mmcv attention layers over them."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Conv2d(3, 16, 8, stride=8)
        self.down = torch.nn.Conv2d(16, 16, 2, stride=2)
        self.layers = torch.nn.ModuleList(
            MultiScaleDeformableAttention(embed_dims=16, num_heads=2, num_levels=2,
                                          num_points=3) for _ in range(2))
        for layer in self.layers:
            torch.nn.init.normal_(layer.sampling_offsets.weight, std=0.5)

    def forward(self, image):
        maps = [self.stem(image)]
        maps.append(self.down(maps[0]))
        shapes = torch.tensor([m.shape[-2:] for m in maps])
        start = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
        query = torch.cat([m.flatten(2).permute(2, 0, 1) for m in maps])  # (cells, 1, 16)
        centres = []
        for h, w in shapes.tolist():
            y, x = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w,
                                  indexing="ij")
            centres.append(torch.stack([x, y], -1).reshape(-1, 2))
        reference = torch.cat(centres)[None, :, None].expand(1, -1, len(maps), 2)
        for layer in self.layers:
            query = layer(query, value=query, reference_points=reference,
                          spatial_shapes=shapes, level_start_index=start)
        return query


def build():
    return Encoder().eval(), Preprocessing("RGB", (0.0, 0.0, 0.0), (255.0, 255.0, 255.0),
                                           None, None, 16)
'''


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_a_factorys_deformable_detr_draws_its_detections(run, image: Path, tmp_path: Path):
    pytest.importorskip("transformers")
    factory = tmp_path / "detr_factory.py"
    factory.write_text(HF_FACTORY)
    result = run("sample", image, "--model-factory", f"{factory}:build", "--auto", "2",
                 "--score-threshold", "0", "-o", tmp_path / "out.png",
                 "--save-data", tmp_path / "out.json", model=False)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out.json").read_text())
    units = data["units"]
    assert [u["layer"] for u in units] == ["model.decoder.layers.1.encoder_attn"] * 2
    assert all(u["detection"]["label"].startswith("LABEL_") for u in units)
    assert np.asarray(units[0]["points"]).shape == (2, 4, 4, 2)
    inspected = run("inspect", f"{factory}:build", model=False)
    assert inspected.exit_code == 0, inspected.output
    assert "model.encoder.layers.0.self_attn" in inspected.output
    assert inspected.output.count("format:") == 1


def test_attention_factory_without_head_and_convolution_flags(run, image: Path, tmp_path: Path):
    pytest.importorskip("transformers")
    factory = tmp_path / "detr_factory.py"
    factory.write_text(HF_FACTORY)
    result = run("sample", image, "--model-factory", f"{factory}:build", "--grid",
                 model=False)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == \
        "error: --grid: not for a deformable-attention network"
    result = run("sample", image, "--model-factory", f"{factory}:build_bare", "--auto", "1",
                 model=False)
    assert result.exit_code == 2 and "--auto needs detections" in result.output
    result = run("sample", image, "--model-factory", f"{factory}:build_bare", "--query", "5",
                 "-o", tmp_path / "bare.png", model=False)
    assert result.exit_code == 0, result.output


def test_attention_flags_refused_for_a_convolution_network(run, image: Path, tmp_path: Path):
    result = run("sample", image, "--query", "3", "-o", tmp_path / "x.png")
    assert result.exit_code == 2
    assert "--query: only for deformable-attention networks" in result.output
    assert not (tmp_path / "x.png").exists()


def test_mmcv_encoder_query_at_a_pixel_sits_on_its_cell(run, image: Path, tmp_path: Path,
                                                         monkeypatch):
    pytest.importorskip("mmcv")
    from tests.probe.test_attention_mmcv import _stand_in_extension

    if "mmcv._ext" not in sys.modules:
        monkeypatch.setitem(sys.modules, "mmcv._ext", _stand_in_extension())
    factory = tmp_path / "mmcv_factory.py"
    factory.write_text(MMCV_FACTORY)
    result = run("sample", image, "--model-factory", f"{factory}:build", "--layer", "layers.1",
                 "--at", "40", "30", "--level", "2", "--save-data", tmp_path / "enc.json",
                 "-o", tmp_path / "enc.png", model=False)
    assert result.exit_code == 0, result.output
    unit = json.loads((tmp_path / "enc.json").read_text())["units"][0]
    # Level 2 = the 2x2 stride-2 conv over the 8x8 stride-8 stem: cells every 16 px, the
    # first centred on pixel 7.5. (40, 30) is nearest cell (column 2, row 1): 6 x 8 cells.
    assert unit["layer"] == "layers.1"
    assert unit["query"] == 12 * 16 + 1 * 8 + 2
    assert unit["reference"] == pytest.approx([39.5, 23.5])
    assert np.asarray(unit["points"]).shape == (2, 2, 3, 2)
    result = run("sample", image, "--model-factory", f"{factory}:build", "--auto", "1",
                 model=False)
    assert result.exit_code == 2 and "--auto picks decoder queries" in result.output
