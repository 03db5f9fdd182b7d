"""The explore page of the bundled network, in a real browser: it loads from file:// with no
console error and no network request; the pointer shows the right unit, whose points equal the
Python API's at every level; the copied command, run, draws the pinned units; a screenshot
shows them."""

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
from deformviz.visualize import sample_locations

from .browser import console_errors, copy_command, network_requests, open_page, point_at
from .compare import assert_command_draws, assert_same_points, run_copied_command

IMAGE = "chelsea.jpg"  # not square, not 512 px: the page must undo a non-trivial resize


@pytest.fixture(scope="module")
def page(samples: Path, test_model_path: Path, tmp_path_factory) -> Path:
    """The page, written by the real command line."""
    folder = tmp_path_factory.mktemp("explore")
    path = folder / "chelsea_explore.html"
    result = CliRunner().invoke(app, ["explore", str(samples / IMAGE), "-o", str(path),
                                      "--model", str(test_model_path), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(path)
    return path


@pytest.fixture(scope="module")
def loaded(browser, page: Path):
    open_page(browser, page)
    return browser


def test_loads_offline_without_errors(loaded) -> None:
    assert loaded.execute_script("return typeof window.deformvizExplore") == "object"
    assert console_errors(loaded) == []
    assert network_requests(loaded) == []
    layers = loaded.execute_script("return window.deformvizExplore.data.layers.map(l => l.label)")
    assert layers == ["res5a", "res5b", "res5c"]


# Image pixels (x, y): corners (border units, whose filters read padding), the middle, and
# points in between; chelsea.jpg is 451 x 300.
TARGETS = [(0.0, 0.0), (450.0, 299.0), (225.0, 150.0), (60.0, 240.0), (333.0, 47.0)]


def test_hover_shows_the_units_points_as_the_python_api(loaded, test_model, samples) -> None:
    for levels in (3, 1):
        loaded.execute_script(f"window.deformvizExplore.setLevels({levels})")
        for target in TARGETS:
            pointer = point_at(loaded, *target)
            shown = loaded.execute_script("return window.deformvizExplore.shown()")
            assert len(shown) == 1 and not shown[0]["pinned"]
            expected = sample_locations(test_model, samples / IMAGE, at=[pointer], levels=levels)
            assert_same_points(shown[0], expected.samplings[0], levels)
    loaded.execute_script("window.deformvizExplore.setLevels(3)")
    assert console_errors(loaded) == []


def test_copied_command_draws_the_pinned_units(loaded, tmp_path: Path, test_model_path) -> None:
    for target in TARGETS[2:]:
        point_at(loaded, *target, click=True)
    pins = [s for s in loaded.execute_script("return window.deformvizExplore.shown()")
            if s["pinned"]]
    assert len(pins) == len(TARGETS[2:])
    command = copy_command(loaded)
    words = shlex.split(command)
    assert words[-2:] == ["--levels", "3"] and words.count("--at") == len(pins)
    assert words[words.index("--model") + 1] == str(test_model_path)
    assert_command_draws(run_copied_command(command, tmp_path), pins, 3)


def test_screenshot_shows_image_and_points(loaded) -> None:
    point_at(loaded, 120.0, 200.0)  # a hovered unit next to the pinned ones
    png = loaded.get_screenshot_as_png()
    folder = os.environ.get("DEFORMVIZ_SCREENSHOTS")
    if folder:  # to look at it: DEFORMVIZ_SCREENSHOTS=/some/folder pytest tests/explore
        Path(folder, "explore_bundled.png").write_bytes(png)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert pixels.std() > 20, "the screenshot is blank"
    colours = loaded.execute_script("return window.deformvizExplore.data.colours")
    for colour in (colours["unit"], colours["levels"][0], colours["levels"][2]):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        matching = (np.abs(pixels - rgb).max(axis=-1) <= 8).sum()
        assert matching >= 20, f"no {colour} points in the screenshot"
    assert console_errors(loaded) == []
    assert network_requests(loaded) == []


def _rgb(colour: str) -> str:
    """"#RRGGBB" as the browser reports a computed colour: "rgb(r, g, b)"."""
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


def test_a_level_keeps_its_colour_whatever_number_of_levels_is_shown(loaded) -> None:
    """Read back from the page: legend, level switches and the drawn points, at 1, 2, 3."""
    from deformviz.plotting.style import BIN_COLOR, BOX_COLOR, LAYER_COLORS

    swatches = """return Array.from(document.querySelectorAll(arguments[0])).filter(
        e => e.offsetParent !== null).map(e => getComputedStyle(
        e.querySelector('.swatch')).backgroundColor)"""
    for levels in (1, 2, 3):
        loaded.execute_script(f"window.deformvizExplore.setLevels({levels})")
        expected = [_rgb(c) for c in LAYER_COLORS[:levels]]
        assert loaded.execute_script(swatches, "#legend li[data-level]") == expected
        assert loaded.execute_script(swatches, "#level-toggles label") == expected
        others = loaded.execute_script(swatches, "#legend li:not([data-level])")
        assert _rgb(BOX_COLOR) in others and _rgb(BIN_COLOR) in others  # detections, bins
        assert not set(others) & set(expected)
        point_at(loaded, 225.0, 150.0)
        pixels = np.asarray(Image.open(io.BytesIO(loaded.get_screenshot_as_png()))
                            .convert("RGB")).astype(int)
        for colour in LAYER_COLORS[:levels]:
            rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
            assert (np.abs(pixels - rgb).max(axis=-1) <= 8).sum() >= 9, \
                f"level colour {colour} not drawn at --levels {levels}"
    loaded.execute_script("window.deformvizExplore.setLevels(3)")
    assert console_errors(loaded) == []
