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

from .browser import console_errors, network_requests, open_page

IMAGE = "chelsea.jpg"  # not square, not 512 px: the page must undo a non-trivial resize
TOLERANCE = 0.01  # pixels


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


def _move(driver, x: float, y: float, click: bool = False) -> tuple[float, float]:
    """Move the pointer (and click) over original pixel (x, y); returns the image pixel the
    pointer actually lands on (the viewport takes whole CSS pixels)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    view = driver.execute_script("return window.deformvizExplore.view()")
    client = (round(view["left"] + (x + 0.5) * view["scale"]),
              round(view["top"] + (y + 0.5) * view["scale"]))
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(*client)
    if click:
        actions.pointer_action.click()
    actions.perform()
    x = (client[0] - view["left"]) / view["scale"] - 0.5
    y = (client[1] - view["top"]) / view["scale"] - 0.5
    width, height = driver.execute_script(
        "const i = window.deformvizExplore.data.image; return [i.width, i.height]")
    # A pixel's left half lies below its index: keep the unit request inside [0, W) x [0, H).
    return min(max(x, 0.0), width - 0.01), min(max(y, 0.0), height - 0.01)


def _assert_same_points(shown: dict, expected, levels: int) -> None:
    assert tuple(shown["cell"]) == expected.unit.cell
    np.testing.assert_allclose(shown["pixel"], expected.unit.pixel, atol=TOLERANCE, rtol=0)
    assert len(shown["levels"]) == levels == expected.levels
    for level in range(levels):
        page_points = np.array(shown["levels"][level]["points"])
        assert page_points.shape == expected.points[level].shape == (9 ** (level + 1), 2)
        np.testing.assert_allclose(page_points, expected.points[level], atol=TOLERANCE, rtol=0)
        assert shown["levels"][level]["active"] == expected.active[level].tolist()
        np.testing.assert_allclose(shown["levels"][level]["weights"], expected.weights[level],
                                   atol=1e-9)
    assert shown["effectiveDilation"] == pytest.approx(expected.effective_dilation, abs=1e-6)


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
            pointer = _move(loaded, *target)
            shown = loaded.execute_script("return window.deformvizExplore.shown()")
            assert len(shown) == 1 and not shown[0]["pinned"]
            expected = sample_locations(test_model, samples / IMAGE, at=[pointer], levels=levels)
            _assert_same_points(shown[0], expected.samplings[0], levels)
    loaded.execute_script("window.deformvizExplore.setLevels(3)")
    assert console_errors(loaded) == []


def test_copied_command_draws_the_pinned_units(loaded, tmp_path: Path, test_model_path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    pinned = [_move(loaded, *target, click=True) for target in TARGETS[2:]]
    shown = loaded.execute_script("return window.deformvizExplore.shown()")
    pins = [s for s in shown if s["pinned"]]
    assert len(pins) == len(pinned)
    loaded.find_element("id", "copy").click()
    WebDriverWait(loaded, 10).until(
        lambda d: d.execute_script("return window.deformvizExplore.lastCopied()") is not None)
    command = loaded.execute_script("return window.deformvizExplore.lastCopied()")
    assert command == loaded.find_element("id", "command").get_attribute("value")
    words = shlex.split(command)
    assert words[:2] == ["deformviz", "sample"] and words[-2:] == ["--levels", "3"]
    assert words[words.index("--model") + 1] == str(test_model_path)

    data = tmp_path / "units.json"
    result = CliRunner().invoke(app, [*words[1:], "-o", str(tmp_path / "figure.png"),
                                      "--save-data", str(data), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    import json

    units = json.loads(data.read_text())["units"]
    assert [tuple(u["cell"]) for u in units] == [tuple(p["cell"]) for p in pins]
    for unit, pin in zip(units, pins):
        for level in range(3):
            np.testing.assert_allclose(unit["levels"][level]["points"],
                                       pin["levels"][level]["points"], atol=TOLERANCE, rtol=0)
    assert (tmp_path / "figure.png").stat().st_size > 10_000


def test_screenshot_shows_image_and_points(loaded) -> None:
    _move(loaded, 120.0, 200.0)  # a hovered unit next to the pinned ones
    png = loaded.get_screenshot_as_png()
    folder = os.environ.get("DEFORMVIZ_SCREENSHOTS")
    if folder:  # to look at it: DEFORMVIZ_SCREENSHOTS=/some/folder pytest tests/explore
        Path(folder, "explore_bundled.png").write_bytes(png)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert pixels.std() > 20, "the screenshot is blank"
    colours = loaded.execute_script("return window.deformvizExplore.data.colours")
    for colour in (colours["unit"], colours["levels"]["1"], colours["levels"]["3"]):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        matching = (np.abs(pixels - rgb).max(axis=-1) <= 8).sum()
        assert matching >= 20, f"no {colour} points in the screenshot"
    assert console_errors(loaded) == []
    assert network_requests(loaded) == []
