"""InternImage through the command line: inspect states what the weights cannot say, sample
saves it with the data (and draws the default chain), explore writes its page."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from deformviz.cli import app
from tests.networks.internimage_layouts import internimage_state

CHELSEA = Path(__file__).resolve().parents[2] / "samples" / "chelsea.jpg"


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _model(tmp_path):
    path = tmp_path / "internimage_tiny_1k.pth"
    torch.save({"model": internimage_state(), "epoch": 1}, path)
    return path


def test_inspect_sample_explore(tmp_path):
    model = _model(tmp_path)
    shown = _run("inspect", model, "--offset-scale", "2")
    assert shown.exit_code == 0, shown.output
    assert "offset scale" in shown.output and "2 (given" in shown.output
    assert "levels.3.blocks.1.dcn" in shown.output and "DCNv3" in shown.output
    figure, data = tmp_path / "out.png", tmp_path / "out.json"
    drawn = _run("sample", CHELSEA, "--model", model, "--short-side", "128", "-o", figure,
                 "--save-data", data, "--group", "all")
    assert drawn.exit_code == 0, drawn.output
    saved = json.loads(data.read_text())
    assert "the weights do not say" in saved["network"]["offset scale"]
    # the default chain stays in the last level (2 blocks here), so --group all works
    chain = saved["chain"]
    assert [layer["name"] for layer in chain] == ["levels.3.blocks.0.dcn", "levels.3.blocks.1.dcn"]
    assert [(layer["version"], layer["offset_scale"]) for layer in chain] == [("DCNv3", 1.0)] * 2
    page = tmp_path / "page.html"
    explored = _run("explore", CHELSEA, "--model", model, "--short-side", "128", "-o", page)
    assert explored.exit_code == 0, explored.output
    assert page.stat().st_size > 0


def test_offset_scale_refused_for_other_checkpoints(tmp_path):
    model = tmp_path / "resnet.pth"
    from tests.networks.published_layouts import Layout, dcn_c3_c5, mmdetection_checkpoint

    torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5())), model)
    result = _run("inspect", model, "--offset-scale", "2")
    assert result.exit_code == 2 and "InternImage" in result.output


def test_explore_and_stats_take_the_offset_scale(tmp_path):
    from tests.statistics.conftest import write_coco_scenes

    model = _model(tmp_path)
    page = tmp_path / "page.html"
    explored = _run("explore", CHELSEA, "--model", model, "--short-side", "128",
                    "--offset-scale", "2", "-o", page)
    assert explored.exit_code == 0, explored.output
    assert '"--offset-scale","2.0"' in page.read_text()  # the copied sample command keeps it
    folder = tmp_path / "scenes"
    write_coco_scenes(folder, 1)
    table = tmp_path / "table.json"
    counted = _run("stats", folder, "-a", folder / "instances.json", "--model", model,
                   "--short-side", "128", "--offset-scale", "2", "-o", table, "--workers", "0")
    assert counted.exit_code == 0, counted.output
    assert "offset scale 2" in json.loads(table.read_text())["settings"]["network"]["architecture"]
