"""`stats` on users' networks: a checkpoint in mmdetection's published layout (a narrow
ResNet-50 with DCN in c3-c5), through the real command line, `--model FILE` and `--layers`."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from deformviz.cli import app
from tests.networks.published_layouts import Layout, dcn_c3_c5, mmdetection_checkpoint


def _checkpoint(path, zero_offsets: bool = False, modulated: bool = False):
    layout = Layout(dcn=dcn_c3_c5(modulated=modulated))
    checkpoint = mmdetection_checkpoint(layout)
    if zero_offsets:
        for key, value in checkpoint["state_dict"].items():
            if "conv_offset" in key:
                value.zero_()
    torch.save(checkpoint, path)
    return path


@pytest.fixture
def stats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, ["stats", *[str(a) for a in args], "--workers", "0",
                                     "--short-side", "128"])
        return result, tmp_path

    return invoke


def test_checkpoint_default_chain_and_zero_offsets_rigid(stats, coco_scenes, tmp_path):
    model = _checkpoint(tmp_path / "faster_rcnn_r50_fpn_dconv_c3-c5.pth", zero_offsets=True)
    result, folder = stats(coco_scenes, "-a", coco_scenes / "instances.json", "--model", model,
                           "-o", "table.json", "--thresholds", "24,48")
    assert result.exit_code == 0, result.output
    document = json.loads((folder / "table.json").read_text())
    assert document["settings"]["network"]["layers"] == ["layer4.0.conv2", "layer4.1.conv2", "layer4.2.conv2"]
    assert document["settings"]["layers"] == ["res5a", "res5b", "res5c"]
    for layer in ("res5a", "res5b", "res5c"):
        row = document["effective_dilation"][layer]
        assert row["rigid"] == 1.0  # ResNet's 3x3, dilation 1
        for name in ("small", "medium", "large", "background"):
            if row[name]["units"]:
                assert row[name]["mean"] == 1.0 and row[name]["std"] in (0.0, None)
    share = document["in_object_share"]
    assert share["points_per_unit"] == 729
    assert sum(share[name]["units"] for name in ("small", "medium", "large")) > 0
    for name in ("small", "medium", "large"):
        assert share[name]["deformed"] == share[name]["rigid"]


def test_checkpoint_layers_across_stages(stats, coco_scenes, tmp_path):
    model = _checkpoint(tmp_path / "dcn.pth", modulated=True)
    result, folder = stats(coco_scenes, "-a", coco_scenes / "instances.json", "--model", model,
                           "--layers", "res4f,res5a", "-o", "t.json", "--limit", "2")
    assert result.exit_code == 0, result.output
    document = json.loads((folder / "t.json").read_text())
    assert document["settings"]["layers"] == ["res4f", "res5a"]
    assert document["in_object_share"]["points_per_unit"] == 81
    # Learned (random, non-zero) offsets move the filters off the rigid grid.
    assert document["effective_dilation"]["res4f"]["background"]["mean"] != 1.0
    bad, _ = stats(coco_scenes, "-a", coco_scenes / "instances.json", "--model", model,
                   "--layers", "res9z")
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "res9z" in bad.output


def test_padded_batches_through_the_command_line(stats, mixed_coco_scenes, tmp_path):
    # mmdetection's batching: zeros after normalisation, bottom and right, to a multiple of 32.
    # At --short-side 128 the six scene sizes become inputs such as 128x171 (padded alone to
    # 128x192) and 213x128 (224x128); batches of 3 pad them further, to the largest of them.
    model = _checkpoint(tmp_path / "faster_rcnn_r50_fpn_dconv_c3-c5.pth")
    tables = {}
    for batch_size in (1, 3):
        result, folder = stats(mixed_coco_scenes, "-a", mixed_coco_scenes / "instances.json",
                               "--model", model, "-o", f"table{batch_size}.json",
                               "--thresholds", "24,48", "--batch-size", batch_size)
        assert result.exit_code == 0, result.output
        tables[batch_size] = json.loads((folder / f"table{batch_size}.json").read_text())
    alone, batched = tables[1], tables[3]
    assert batched["images"] == alone["images"]
    for layer, row in alone["effective_dilation"].items():
        for name, entry in row.items():
            other = batched["effective_dilation"][layer][name]
            if not isinstance(entry, dict):
                assert other == entry, (layer, name)
                continue
            assert other["units"] == entry["units"], (layer, name)
            if entry["units"]:
                assert other["mean"] == pytest.approx(entry["mean"], rel=0.10), (layer, name)
    for name in ("small", "medium", "large"):
        assert batched["in_object_share"][name]["units"] == alone["in_object_share"][name]["units"]
        assert batched["in_object_share"][name]["rigid"] == alone["in_object_share"][name]["rigid"]
