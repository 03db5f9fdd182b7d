"""Figures of sampling locations (the paper's Fig. 6): one panel per unit, or a grid overview."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from deformviz.visualize.results import SamplingResult, UnitSampling

from .panels import draw_points, handle, image_panels, legend_row
from .style import LEVEL_STYLES, UNIT_STYLE, paper_style

__all__ = ["plot_sampling"]


def _active_points(sampling: UnitSampling, level: int) -> np.ndarray:
    # Points under an out-of-map ancestor were never evaluated by the network: not drawn.
    return sampling.points[level - 1][sampling.active[level - 1]]


def _draw_unit(ax, sampling: UnitSampling) -> None:
    for level in range(sampling.levels, 0, -1):  # deepest first, so shallower stay visible
        draw_points(ax, _active_points(sampling, level), LEVEL_STYLES[level], 2 + (3 - level))
    draw_points(ax, np.array([sampling.unit.pixel]), UNIT_STYLE, 6)


def _draw_grid(ax, result: SamplingResult) -> None:
    """Every unit with its 9 top-level taps and thin spokes from the unit to each tap."""
    style = LEVEL_STYLES[1]
    spokes, taps, units = [], [], []
    for sampling in result.samplings:
        points = _active_points(sampling, 1)
        spokes += [[sampling.unit.pixel, tuple(p)] for p in points]
        taps.append(points)
        units.append(sampling.unit.pixel)
    ax.add_collection(LineCollection(spokes, colors=style.color, linewidths=0.3, zorder=2))
    tap_style = replace(style, size=2.4, edge_width=0.3)  # many filters: smaller taps
    draw_points(ax, np.concatenate(taps) if taps else np.zeros((0, 2)), tap_style, 3)
    draw_points(ax, np.array(units).reshape(-1, 2), replace(UNIT_STYLE, size=3.5, edge_width=0.4), 4)


def _legend(result: SamplingResult, levels: int):
    entries = [handle(UNIT_STYLE, "unit")]
    for level in range(1, levels + 1):
        layer = result.layer_names[-level]
        entries.append(handle(LEVEL_STYLES[level], f"{layer} ({9 ** level} points)"))
    return entries


def plot_sampling(result: SamplingResult, width: float = 6.875, titles: bool = True,
                  legend: bool = True) -> Figure:
    """Draw the sampling locations of `result` over its original image.

    Args:
        result: from `deformviz.visualize.sample_locations`.
        width: figure width in inches (height follows from the image's aspect ratio).
        titles: a title over each panel (the unit's role and object).
        legend: a legend row under the panels.
    Returns:
        A matplotlib Figure (not attached to pyplot); save it with `save_figure`.
    """
    with paper_style():
        if result.mode == "grid":
            figure, (ax,) = image_panels(result.image.pixels, [None], width, legend)
            _draw_grid(ax, result)
            if legend:
                legend_row(figure, _legend(result, 1))
            return figure
        panel_titles = [s.unit.title if titles else None for s in result.samplings] or [None]
        figure, axes = image_panels(result.image.pixels, panel_titles, width, legend)
        for ax, sampling in zip(axes, result.samplings):
            _draw_unit(ax, sampling)
        if legend:
            legend_row(figure, _legend(result, result.levels))
        return figure
