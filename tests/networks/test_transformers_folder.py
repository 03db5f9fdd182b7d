"""`load_network(FOLDER)` on Hugging Face model folders built in code (Deformable DETR with box
refinement and two-stage, RT-DETR): the model, its own processor, its own post-processing
traced back to decoder queries, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deformviz.errors import CheckpointError, InputError
from deformviz.imaging import LoadedImage
from deformviz.networks import load_network
from tests.networks.transformers_folders import transformers, write_folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {kind: write_folder(root / kind, kind) for kind in ("deformable_detr", "rt_detr")}


def _image(height: int = 120, width: int = 200) -> LoadedImage:
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return LoadedImage(pixels, "random")


def test_folder_loads_as_attention_network(folders) -> None:
    network = load_network(folders["deformable_detr"])
    assert network.format == "transformers"
    assert network.architecture.startswith("DeformableDetrForObjectDetection")
    assert network.deformable_layers == tuple(
        f"model.{stage}.layers.{i}.{attn}" for stage, attn in
        (("encoder", "self_attn"), ("decoder", "encoder_attn")) for i in range(2))
    assert network.default_chain == ("model.decoder.layers.1.encoder_attn",)
    assert "pred_boxes" in network.details["outputs"]
    # The weights are the saved ones (safetensors), not a fresh initialisation.
    saved = transformers.DeformableDetrForObjectDetection.from_pretrained(
        folders["deformable_detr"])
    name = "model.decoder.layers.1.encoder_attn.sampling_offsets.weight"
    assert torch.equal(network.module.get_submodule(name.rsplit(".", 1)[0]).weight,
                       saved.get_submodule(name.rsplit(".", 1)[0]).weight)


def test_processor_resizes_and_head_names_queries(folders) -> None:
    network = load_network(folders["deformable_detr"])
    prepared = network.preprocessing.prepare(_image())
    # shortest edge 96 (longest 160 is not reached): 120 x 200 -> 96 x 160.
    assert prepared.resized_size == (96, 160) and prepared.original_size == (120, 200)
    with torch.no_grad():
        outputs = network.module(prepared.tensor)
    found = network.detection_head.detect(outputs, prepared.padded_size, 0.0, 5)
    assert len(found.queries) == len(set(found.queries.tolist())) == 5
    assert torch.all(found.scores[:-1] >= found.scores[1:])
    for box, score, label, query in zip(found.boxes, found.scores, found.labels, found.queries):
        cx, cy, w, h = outputs.pred_boxes[0, query].double().tolist()
        expected = torch.tensor([(cx - w / 2) * 160, (cy - h / 2) * 96, (cx + w / 2) * 160,
                                 (cy + h / 2) * 96], dtype=torch.float64)
        assert torch.allclose(box, expected, atol=1e-3)
        probabilities = outputs.logits[0, query].sigmoid()
        assert float(score) == pytest.approx(float(probabilities.max()), abs=1e-6)
        assert int(label) == int(probabilities.argmax())


def test_rt_detr_and_pytorch_bin(folders, tmp_path: Path) -> None:
    network = load_network(folders["rt_detr"])
    assert network.deformable_layers == ("model.decoder.layers.0.encoder_attn",
                                         "model.decoder.layers.1.encoder_attn")
    assert network.preprocessing.prepare(_image()).resized_size == (96, 96)
    binary = load_network(write_folder(tmp_path / "bin", "rt_detr", safetensors=False))
    assert binary.details["weights"] == "pytorch_model.bin"
    for (name, a), (_, b) in zip(network.module.state_dict().items(),
                                 binary.module.state_dict().items()):
        assert torch.equal(a, b), name


def test_folder_errors_are_one_line(folders, tmp_path: Path, monkeypatch) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((folders["rt_detr"] / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no weights"):
        load_network(partial)
    (partial / "model.safetensors").write_bytes(
        (folders["rt_detr"] / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="no preprocessor_config.json"):
        load_network(partial)
    remote = tmp_path / "remote"
    remote.mkdir()
    config = json.loads((folders["rt_detr"] / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"x": "y.Z"}}))
    with pytest.raises(CheckpointError, match="never runs code"):
        load_network(remote)
    with pytest.raises(InputError, match="short_side"):
        load_network(folders["rt_detr"], short_side=600)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(InputError, match=r'pip install "deformviz\[transformers\]"'):
        load_network(folders["rt_detr"])
