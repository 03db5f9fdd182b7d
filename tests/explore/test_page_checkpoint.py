"""The explore page of a user's network, in a real browser: an mmdetection checkpoint in the
published layout (ResNet-50 shape, caffe style, DCNv2 with two offset groups in c3-c5; random
weights, see tests/networks/published_layouts.py), rebuilt on deformviz's operators. The chain
crosses a stage (res4f -> res5a: a rigid stride-2 step between the layers), every point the
pointer shows equals the Python API's, and the copied command, run, draws the pinned units."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from deformviz.cli import app
from deformviz.networks import load_network
from deformviz.visualize import sample_locations
from tests.networks.published_layouts import Layout, dcn_c3_c5, mmdetection_checkpoint

from .browser import console_errors, copy_command, network_requests, open_page, point_at
from .compare import assert_command_draws, assert_same_points, run_copied_command

IMAGE = "coffee.jpg"
NETWORK = ("--backbone-style", "caffe", "--short-side", "160", "--layers", "layer3.5.conv2,res5a,res5b")
TARGETS = [(0.0, 0.0), (300.0, 200.0), (123.0, 321.0)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checkpoint") / "faster_rcnn_r50_dconv_c3-c5_caffe.pth"
    torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5(modulated=True, groups=2))), path)
    return path


@pytest.fixture(scope="module")
def page(samples: Path, checkpoint: Path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("explore") / "coffee.html"
    result = CliRunner().invoke(app, ["explore", str(samples / IMAGE), "--model", str(checkpoint),
                                      *NETWORK, "-o", str(path), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def loaded(browser, page: Path):
    open_page(browser, page)
    return browser


def test_checkpoint_page_loads_offline(loaded) -> None:
    assert console_errors(loaded) == [] and network_requests(loaded) == []
    layers = loaded.execute_script("return window.deformvizExplore.data.layers")
    assert [l["label"] for l in layers] == ["res4f", "res5a", "res5b"]
    # caffe style: res5a's stride-2 1x1 sits between res4f and res5a (a rigid step).
    assert layers[0]["output_grid"]["stride"] == [16.0, 16.0]
    assert layers[1]["input_grid"]["stride"] == [32.0, 32.0]
    assert layers[1]["mask"]["shape"][0] == 18  # DCNv2, two offset groups
    assert loaded.execute_script("return window.deformvizExplore.data.detections") == []


def test_pointer_shows_the_python_apis_points(loaded, samples: Path, checkpoint: Path) -> None:
    network = load_network(checkpoint, style="caffe", short_side=160)
    for target in TARGETS:
        pointer = point_at(loaded, *target)
        shown = loaded.execute_script("return window.deformvizExplore.shown()")
        expected = sample_locations(network, samples / IMAGE, at=[pointer],
                                    layers=["layer3.5.conv2", "res5a", "res5b"], levels=3)
        assert len(shown) == 1
        assert_same_points(shown[0], expected.samplings[0], 3)
    assert console_errors(loaded) == []


def test_copied_command_draws_the_pinned_units(loaded, tmp_path: Path, checkpoint: Path) -> None:
    for target in TARGETS[1:]:
        point_at(loaded, *target, click=True)
    pins = [s for s in loaded.execute_script("return window.deformvizExplore.shown()")
            if s["pinned"]]
    command = copy_command(loaded)
    words = shlex.split(command)
    for flag, value in zip(NETWORK[::2], NETWORK[1::2]):
        assert words[words.index(flag) + 1] == value
    assert words[words.index("--model") + 1] == str(checkpoint)
    assert_command_draws(run_copied_command(command, tmp_path), pins, 3)


def test_size_is_refused_for_a_loaded_network(samples: Path, checkpoint: Path,
                                              tmp_path: Path) -> None:
    page = tmp_path / "x.html"
    result = CliRunner().invoke(app, ["explore", str(samples / IMAGE), "--model", str(checkpoint),
                                      "--size", "256", "-o", str(page), "--device", "cpu"])
    assert result.exit_code == 2 and "--short-side" in result.output
    assert not page.exists() and list(tmp_path.iterdir()) == []
