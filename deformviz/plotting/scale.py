"""Marker sizes from the paper, not from the code: physical panel size and number of points.

A panel shows an image W pixels wide across a physical width, so one image pixel is
`points_per_pixel` points on paper. The deepest level's markers are sized so that all of them
together cover at most `DEEPEST_COVERAGE` of the unit's neighbourhood (the box holding the
central 90% of its points, per axis): the image under the points stays visible however many
points there are and however small the panel. Each level up is drawn 1.6 times larger (they
have fewer points, and sit on top), and nothing is drawn smaller than `MIN_MARKER` (a dot a
printer still renders) or larger than `MAX_MARKER`. Where even `MIN_MARKER` squares would
cover more, the deepest level is drawn translucent (`deepest_opacity`), so that coverage
times opacity stays at `DEEPEST_COVERAGE`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

__all__ = ["DEEPEST_COVERAGE", "MIN_MARKER", "MAX_MARKER", "points_per_pixel",
           "neighbourhood", "level_marker_sizes", "overview_marker_size", "deepest_opacity",
           "MIN_OPACITY"]

DEEPEST_COVERAGE = 0.2  # summed marker area x opacity / neighbourhood area, deepest level
MIN_MARKER = 0.35  # points (0.12 mm, about 1.5 pixels at 300 dpi)
MIN_OPACITY = 0.3  # dense points fade no further than this
MAX_MARKER = 3.5  # points
_LEVEL_GROWTH = 1.6  # each level up is this much larger than the one below


def points_per_pixel(ax: Axes) -> float:
    """Printed points per image pixel (x) in `ax`, after its aspect is applied."""
    ax.apply_aspect()
    width_in = ax.get_position().width * ax.figure.get_figwidth()
    left, right = ax.get_xlim()
    return width_in * 72 / abs(right - left)


def neighbourhood(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the central 90% of [N, 2] (x, y) points per axis (pixels)."""
    if len(points) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    low = np.percentile(points, 5, axis=0)
    high = np.percentile(points, 95, axis=0)
    return (float(low[0]), float(low[1]), float(high[0]), float(high[1]))


def _coverage_size(points: np.ndarray, scale: float, coverage: float) -> float:
    """Marker side (points) at which len(points) squares cover `coverage` of the
    neighbourhood; a neighbourhood under 1 pixel a side counts as 1 pixel."""
    x0, y0, x1, y1 = neighbourhood(points)
    area = max(x1 - x0, 1.0) * max(y1 - y0, 1.0) * scale ** 2
    return float(np.sqrt(coverage * area / max(len(points), 1)))


def level_marker_sizes(points: Sequence[np.ndarray], scale: float) -> list[float]:
    """Marker sides in points for levels 1..L given each level's drawn [N_l, 2] points.

    Args:
        points: per level, the (x, y) pixel points that will be drawn.
        scale: `points_per_pixel` of the panel.
    """
    levels = len(points)
    sizes = [0.0] * levels
    deepest = _coverage_size(points[-1], scale, DEEPEST_COVERAGE)
    sizes[-1] = float(np.clip(deepest, MIN_MARKER, MAX_MARKER * 0.5))
    for level in range(levels - 2, -1, -1):
        sizes[level] = float(np.clip(sizes[level + 1] * _LEVEL_GROWTH, MIN_MARKER, MAX_MARKER))
    return sizes


def overview_marker_size(tap_distance: float, scale: float) -> float:
    """Marker side (points) for the grid overview, where a unit's taps lie about
    `tap_distance` pixels from it: an eighth of that distance on paper, so neighbouring taps
    stay apart."""
    return float(np.clip(tap_distance * scale / 8, MIN_MARKER, MAX_MARKER * 0.75))


def deepest_opacity(points: np.ndarray, scale: float, size: float) -> float:
    """Opacity of the deepest level drawn with markers `size` points across: 1 unless their
    summed area exceeds `DEEPEST_COVERAGE` of the neighbourhood, then proportionally less
    (never under MIN_OPACITY)."""
    wanted = _coverage_size(points, scale, DEEPEST_COVERAGE)
    if wanted >= size:
        return 1.0
    return float(max((wanted / size) ** 2, MIN_OPACITY))
