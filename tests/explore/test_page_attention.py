"""The explore page of a deformable-attention network (a small random Deformable DETR folder),
in a real browser: it loads offline without errors; the pointer over a detection shows its
decoder query and over an encoder cell that cell's query, with the points `sample` draws for
it (to 1e-3 px); the head, level and min-weight controls choose the points drawn; the copied
command, run, draws the pinned queries with the page's points."""

from __future__ import annotations

import io
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from deformviz.cli import app
from deformviz.imaging import load_image
from deformviz.networks import load_network
from deformviz.visualize.attention_sampling import probe_attention_image

from .attention_page import TOLERANCE, unit_points, write_folder
from .browser import console_errors, copy_command, network_requests, open_page, point_at
from .compare import run_copied_command

IMAGE = "chelsea.jpg"  # 451 x 300, resized by the processor to 160 x 106: a real resize


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("hf") / "detr")


@pytest.fixture(scope="module")
def page(samples: Path, folder: Path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("explore") / "chelsea_explore.html"
    result = CliRunner().invoke(app, ["explore", str(samples / IMAGE), "--model", str(folder),
                                      "-o", str(path), "--score-threshold", "0",
                                      "--max-boxes", "4", "--encoder-levels", "all",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def probed(samples: Path, folder: Path):
    """The pass `sample` makes on the same image."""
    return probe_attention_image(load_network(folder), load_image(samples / IMAGE),
                                 score_threshold=0.0)


@pytest.fixture(scope="module")
def loaded(browser, page: Path):
    open_page(browser, page)
    return browser


def _shown(driver) -> list[dict]:
    return driver.execute_script("return window.deformvizExplore.shown()")


def _expected_detection(detections: list[dict], x: float, y: float) -> int:
    """The query of the smallest detection box holding pixel (x, y) (index coordinates)."""
    holding = [d for d in detections if d["box"][0] <= x + 0.5 <= d["box"][2]
               and d["box"][1] <= y + 0.5 <= d["box"][3]]
    return min(holding, key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))[
        "query"]


def _assert_same(shown: dict, points: np.ndarray, weights: np.ndarray) -> None:
    np.testing.assert_allclose(np.array(shown["points"]), points, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(np.array(shown["weights"]), weights, atol=1e-6, rtol=0)


def test_loads_offline_without_errors(loaded) -> None:
    assert loaded.execute_script("return window.deformvizExplore.data.kind") == "attention"
    assert console_errors(loaded) == [] and network_requests(loaded) == []


def test_hovering_a_detection_shows_its_decoder_query(loaded, probed) -> None:
    detections = loaded.execute_script("return window.deformvizExplore.data.detections")
    decoder = loaded.execute_script("return window.deformvizExplore.data.decoder.map(l => l.name)")
    for detection in detections:
        box = detection["box"]
        x, y = point_at(loaded, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        (shown,) = _shown(loaded)
        assert shown["kind"] == "decoder" and shown["query"] == _expected_detection(detections, x, y)
        assert shown["layer"] == decoder[-1]
        _, points, weights, reference = unit_points(probed, decoder[-1], queries=[shown["query"]])
        _assert_same(shown, points, weights)
        np.testing.assert_allclose(shown["reference"], reference, atol=TOLERANCE)
    loaded.execute_script("window.deformvizExplore.setDecoderLayer(0)")
    (shown,) = _shown(loaded)
    assert shown["layer"] == decoder[0]
    _assert_same(shown, *unit_points(probed, decoder[0], queries=[shown["query"]])[1:3])
    loaded.execute_script("window.deformvizExplore.setDecoderLayer(1)")
    assert console_errors(loaded) == []


def test_hovering_an_encoder_cell_shows_the_query_at_picks(loaded, probed) -> None:
    encoder = loaded.execute_script("return window.deformvizExplore.data.encoder.name")
    for level, target in ((0, (10.0, 290.0)), (1, (225.0, 150.0)), (3, (440.0, 5.0))):
        loaded.execute_script(f"window.deformvizExplore.setMode({level})")
        x, y = point_at(loaded, *target)
        (shown,) = _shown(loaded)
        query, points, weights, _ = unit_points(probed, encoder, at=[(x, y)], level=level)
        assert (shown["kind"], shown["level"], shown["query"]) == ("encoder", level, query)
        _assert_same(shown, points, weights)
    assert console_errors(loaded) == []


def test_heads_levels_and_min_weight_choose_the_points(loaded) -> None:
    loaded.execute_script("window.deformvizExplore.setMode(1)")
    point_at(loaded, 200.0, 100.0)
    (shown,) = _shown(loaded)
    weights = np.array(shown["weights"])  # [M, L, K]
    assert shown["visible"] == weights.size
    assert loaded.execute_script("return window.deformvizExplore.drawn()") == [weights.size]
    loaded.execute_script("window.deformvizExplore.setMinWeight(0.05)")
    (shown,) = _shown(loaded)
    assert shown["visible"] == int((weights >= 0.05).sum()) < weights.size
    loaded.find_element("css selector", "#head-toggles input[data-index='0']").click()
    loaded.find_element("css selector", "#level-toggles input[data-index='2']").click()
    point_at(loaded, 200.0, 100.0)
    (shown,) = _shown(loaded)
    kept = weights[1:][:, [0, 1, 3]]
    assert shown["visible"] == int((kept >= 0.05).sum())
    for selector in ("#head-toggles input[data-index='0']", "#level-toggles input[data-index='2']"):
        loaded.find_element("css selector", selector).click()
    loaded.execute_script("window.deformvizExplore.setMinWeight(0)")


def test_copied_commands_draw_the_pinned_queries(loaded, tmp_path: Path) -> None:
    loaded.execute_script("window.deformvizExplore.setMode('detections')")
    detections = loaded.execute_script("return window.deformvizExplore.data.detections")
    for detection in detections[:2]:
        box = detection["box"]
        point_at(loaded, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, click=True)
    pins = [s for s in _shown(loaded) if s["pinned"]]
    command = copy_command(loaded)
    words = shlex.split(command)
    assert words[words.index("--layer") + 1] == "decoder1"
    assert [int(words[i + 1]) for i, w in enumerate(words) if w == "--query"] == \
        [p["query"] for p in pins]
    units = run_copied_command(command, tmp_path)
    assert [u["query"] for u in units] == [p["query"] for p in pins]
    for unit, pin in zip(units, pins):
        assert unit["layer"] == pin["layer"]
        np.testing.assert_allclose(unit["points"], pin["points"], atol=TOLERANCE, rtol=0)

    loaded.execute_script("window.deformvizExplore.setMode(2)")  # a new kind: pins start anew
    for target in ((30.0, 40.0), (400.0, 250.0)):
        point_at(loaded, *target, click=True)
    pins = [s for s in _shown(loaded) if s["pinned"]]
    assert [p["kind"] for p in pins] == ["encoder", "encoder"]
    command = copy_command(loaded)
    words = shlex.split(command)
    assert words[words.index("--layer") + 1] == "encoder1"
    assert words[-2:] == ["--level", "3"] and words.count("--at") == 2
    units = run_copied_command(command, tmp_path)
    assert [u["query"] for u in units] == [p["query"] for p in pins]
    for unit, pin in zip(units, pins):
        np.testing.assert_allclose(unit["points"], pin["points"], atol=TOLERANCE, rtol=0)
    assert console_errors(loaded) == []


def test_screenshot_shows_weights_in_the_colour_map(loaded) -> None:
    loaded.execute_script("window.deformvizExplore.setMode('detections')")
    detections = loaded.execute_script("return window.deformvizExplore.data.detections")
    box = detections[0]["box"]
    point_at(loaded, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    png = loaded.get_screenshot_as_png()
    folder = os.environ.get("DEFORMVIZ_SCREENSHOTS")
    if folder:
        Path(folder, "explore_attention.png").write_bytes(png)
    view = loaded.execute_script("return window.deformvizExplore.view()")
    image = loaded.execute_script("return window.deformvizExplore.data.image")
    left, top = round(view["left"]), round(view["top"])  # the image only, not the colour bar
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)[
        top:top + round(image["height"] * view["scale"]),
        left:left + round(image["width"] * view["scale"])]
    assert pixels.std() > 20, "the image is blank"
    colours = loaded.execute_script("return window.deformvizExplore.data.colours")
    for colour in (colours["colormap"][-1], colours["reference"], colours["box"]):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=-1) <= 8).sum() >= 10, f"no {colour} drawn"
