"""The figure of `deformviz stats` for a deformable-attention model (from the result JSON; no
model, no torch): per attention layer and size class, the attention-weighted spread of the
counted queries' sampling points around their reference point in pixels (with background),
the spread relative to the object's size, and the share of the attention inside the object;
mean over queries with a +-1 std whisker.

At column width the pixel spread spans the top and the two object-relative panels share the
row below; from 5 inches on, the three panels stand in one row. Sizes are computed from the
width asked for (never fitted), as in the other figures.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from .statistics import _LEGEND_COLUMNS, layer_errorbars, style_axes
from .style import FONT_SIZE, paper_style

__all__ = ["plot_attention_statistics"]

_CLASSES = ("small", "medium", "large", "background")
_PANELS = (("spread_px", _CLASSES, "spread (px)"),
           ("spread_relative", _CLASSES[:3], "spread / √area"),
           ("inside_share", _CLASSES[:3], "share in object"))


def _rows(document: dict[str, Any], quantity: str) -> dict[str, dict[str, tuple[float, float]]]:
    table = document["attention"]
    rows = {}
    for layer in document["settings"]["layers"]:
        entries = {name: table[layer][name].get(quantity) for name in _CLASSES}
        rows[layer] = {name: (e["mean"], e["std"] or 0.0) for name, e in entries.items()
                       if e is not None and e["mean"] is not None and e["queries"]}
    return rows


def plot_attention_statistics(document: dict[str, Any], width: float) -> Figure:
    """The attention stats figure at `width` inches.

    Args:
        document: an attention stats result as JSON (`StatsResult.to_json()` or the file's
            contents; settings.family "attention").
        width: figure width in inches (a venue's column or text width).
    Returns:
        A matplotlib Figure (not attached to pyplot); save it with `save_figure`.
    """
    with paper_style():
        one_row = width >= 5.0
        rows_of_legend = -(-len(document["settings"]["layers"]) // _LEGEND_COLUMNS)
        band = rows_of_legend * (FONT_SIZE - 1) * 1.35 / 72 + 0.06
        if one_row:
            height = min(2.2, 0.36 * width)
        else:  # two rows of axes, the tick labels of the upper one between them
            axes_height, gap, bottom = min(1.3, 0.4 * width), 0.42, 0.3
            height = band + 2 * axes_height + gap + bottom
        figure = Figure(figsize=(width, height))
        if one_row:
            grid = figure.add_gridspec(1, 3, width_ratios=(1.3, 1.0, 1.0), left=0.45 / width,
                                       right=1 - 0.05 / width, bottom=0.3 / height,
                                       top=1 - band / height, wspace=0.5 / (width / 3))
            axes = [figure.add_subplot(grid[0, i]) for i in range(3)]
        else:
            grid = figure.add_gridspec(2, 2, left=0.45 / width, right=1 - 0.05 / width,
                                       bottom=bottom / height, top=1 - band / height,
                                       hspace=gap / axes_height, wspace=0.55 / (width / 2))
            axes = [figure.add_subplot(grid[0, :]), figure.add_subplot(grid[1, 0]),
                    figure.add_subplot(grid[1, 1])]
        for ax, (quantity, classes, label) in zip(axes, _PANELS):
            layer_errorbars(ax, _rows(document, quantity), classes, label)
        axes[2].set_ylim(0, 1.0)  # a share
        for ax in axes[1:]:
            ax.get_legend().remove()  # one legend: the layers are the same in every panel
        style_axes(axes)
    return figure
