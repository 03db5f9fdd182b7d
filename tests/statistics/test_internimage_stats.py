"""`stats` on an InternImage checkpoint (published key layout, small widths): the default chain
is the last three DCNv3 layers of the last level, effective dilation averaged over groups."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from deformviz.cli import app
from tests.networks.internimage_layouts import as_mmdetection, internimage_state


def test_internimage_zero_offsets_rigid(coco_scenes, tmp_path, monkeypatch):
    state = internimage_state(depths=(1, 1, 1, 3))
    for key in state:
        if key.endswith(("dcn.offset.weight", "dcn.offset.bias")):
            state[key] = torch.zeros_like(state[key])
    model = tmp_path / "upernet_internimage.pth"
    torch.save(as_mmdetection(state), model)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["stats", str(coco_scenes), "-a",
                                      str(coco_scenes / "instances.json"), "--model", str(model),
                                      "-o", "table.json", "--workers", "0", "--short-side", "128",
                                      "--thresholds", "24,48"])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "table.json").read_text())
    assert document["settings"]["network"]["layers"] == [
        "levels.3.blocks.0.dcn", "levels.3.blocks.1.dcn", "levels.3.blocks.2.dcn"]
    for row in document["effective_dilation"].values():
        for name in ("small", "medium", "large", "background"):
            if row[name]["units"]:
                assert abs(row[name]["mean"] - 1.0) < 1e-6
