"""Comparing what the explore page shows with what the Python API computes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

TOLERANCE = 0.01  # pixels


def assert_same_points(shown: dict, expected, levels: int) -> None:
    """The page's unit (from `deformvizExplore.shown()`) is the Python API's `UnitSampling`:
    same cell, points within TOLERANCE pixels at every level, same active flags, weights
    and effective dilation."""
    assert tuple(shown["cell"]) == expected.unit.cell
    np.testing.assert_allclose(shown["pixel"], expected.unit.pixel, atol=TOLERANCE, rtol=0)
    assert len(shown["levels"]) == levels == expected.levels
    for level in range(levels):
        page_points = np.array(shown["levels"][level]["points"])
        assert page_points.shape == expected.points[level].shape
        np.testing.assert_allclose(page_points, expected.points[level], atol=TOLERANCE, rtol=0)
        assert shown["levels"][level]["active"] == expected.active[level].tolist()
        np.testing.assert_allclose(shown["levels"][level]["weights"], expected.weights[level],
                                   atol=1e-9)
    assert shown["effectiveDilation"] == pytest.approx(expected.effective_dilation, abs=1e-6)


def run_copied_command(command: str, folder: Path) -> list[dict]:
    """Run a copied `deformviz sample ...` line through the real command line (in-process),
    adding a figure and --save-data outputs; returns the units of its saved data."""
    from typer.testing import CliRunner

    from deformviz.cli import app

    words = shlex.split(command)
    assert words[:2] == ["deformviz", "sample"], command
    data = folder / "units.json"
    result = CliRunner().invoke(app, [*words[1:], "-o", str(folder / "figure.png"),
                                      "--save-data", str(data), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (folder / "figure.png").stat().st_size > 5_000
    return json.loads(data.read_text())["units"]


def assert_command_draws(units: list[dict], pins: list[dict], levels: int) -> None:
    """The units the command drew are the pinned ones, with the page's points."""
    assert [tuple(u["cell"]) for u in units] == [tuple(p["cell"]) for p in pins]
    for unit, pin in zip(units, pins):
        assert len(unit["levels"]) == levels
        for level in range(levels):
            np.testing.assert_allclose(unit["levels"][level]["points"],
                                       pin["levels"][level]["points"], atol=TOLERANCE, rtol=0)
