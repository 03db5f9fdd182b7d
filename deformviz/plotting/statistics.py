"""The figure of `deformviz stats`: Table 2 as a plot (from the result JSON; no model, no torch).

Left (or top, at column width): effective dilation of each layer for units on small, medium
and large objects and on background, mean with a +-1 std whisker, the rigid filter's dilation
dashed. Right (or below): the share of each unit's deepest sampling points inside its object,
learned offsets next to the rigid filter, per size class (mean, +-1 std whisker).

The figure's size is computed from the width asked for (never fitted), like the other figures,
and saved with `deformviz.plotting.output.save_figure` (deterministic bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from .style import FONT_SIZE, LAYER_COLORS, REGULAR_BIN_COLOR, WHITE, paper_style

__all__ = ["plot_statistics", "layer_errorbars", "style_axes"]

_CLASSES = ("small", "medium", "large", "background")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LEGEND_COLUMNS = 4


def layer_errorbars(axes, rows: dict[str, dict[str, tuple[float, float] | None]],
                    classes: Sequence[str], ylabel: str) -> None:
    """One marker series per layer (in `rows` order: colour and marker by position) over the
    `classes` on the x axis, mean with a +-1 std whisker; the legend above the panel.

    Args:
        rows: layer label -> class -> (mean, std), or None where the class has no value.
    """
    count = len(rows)
    spread = 0.7 / max(count, 1)
    for index, (layer, row) in enumerate(rows.items()):
        xs, means, stds = [], [], []
        for position, name in enumerate(classes):
            entry = row.get(name)
            if entry is None:
                continue
            xs.append(position + (index - (count - 1) / 2) * spread)
            means.append(entry[0])
            stds.append(entry[1])
        # The layer's colour in every figure: its place in the chain, top first.
        colour = LAYER_COLORS[index % len(LAYER_COLORS)]
        outline = "#000000" if colour == WHITE else colour  # layer 6's white on white paper
        axes.errorbar(xs, means, yerr=stds, fmt=_MARKERS[index % len(_MARKERS)], color=colour,
                      markeredgecolor=outline, ecolor=outline, markersize=3.2, elinewidth=0.7,
                      capsize=1.5, capthick=0.7, label=layer)
    axes.set_xticks(range(len(classes)), classes)
    axes.set_xlim(-0.5, len(classes) - 0.5)
    axes.set_ylim(bottom=0)
    axes.set_ylabel(ylabel)
    # Above the plot, outside it: a legend inside would cover whichever whisker reaches it.
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False,
                fontsize=FONT_SIZE - 1, handletextpad=0.2, borderaxespad=0.1, borderpad=0.0,
                ncol=min(count, _LEGEND_COLUMNS), columnspacing=0.8)


def _dilation_panel(axes, document: dict[str, Any]) -> None:
    layers = list(reversed(document["settings"]["layers"]))  # top first, as the paper's table
    table = document["effective_dilation"]
    rows = {layer: {name: (table[layer][name]["mean"], table[layer][name]["std"] or 0.0)
                    for name in _CLASSES
                    if table[layer][name]["mean"] is not None and table[layer][name]["units"]}
            for layer in layers}
    layer_errorbars(axes, rows, _CLASSES, "effective dilation (cells)")
    rigid = sorted({table[layer]["rigid"] for layer in layers if table[layer].get("rigid") is not None})
    for value in rigid:
        axes.axhline(value, color="0.45", linewidth=0.6, linestyle=(0, (3, 2)), zorder=0)
    if rigid:
        axes.annotate("rigid", (len(_CLASSES) - 0.5, rigid[-1]), xytext=(-1, 1.5),
                      textcoords="offset points", ha="right", va="bottom", fontsize=FONT_SIZE - 1,
                      color="0.35")


def _share_panel(axes, share: dict[str, Any], deepest: str) -> None:
    """`deepest`: the colour of the chain's deepest layer, whose points the share counts."""
    names = _CLASSES[:3]
    width = 0.38
    top = 0.0
    for offset, key, colour, label in ((-width / 2, "deformed", deepest, "learned"),
                                       (width / 2, "rigid", REGULAR_BIN_COLOR, "rigid")):
        xs, means, stds = [], [], []
        for position, name in enumerate(names):
            entry = share[name][key]
            if entry["mean"] is None:
                continue
            xs.append(position + offset)
            means.append(entry["mean"])
            stds.append(entry["std"] or 0.0)
            top = max(top, entry["mean"] + (entry["std"] or 0.0))
        axes.bar(xs, means, width=width, color=colour, label=label, yerr=stds,
                 error_kw={"elinewidth": 0.6, "capsize": 1.2, "capthick": 0.6, "ecolor": "0.25"})
    axes.set_xticks(range(len(names)), names)
    axes.set_xlim(-0.6, len(names) - 0.4)
    axes.set_ylim(0, min(1.0, top * 1.1) if top > 0 else 1.0)  # a share never exceeds 1
    axes.set_ylabel("share of points in object")
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False,
                fontsize=FONT_SIZE - 1, borderaxespad=0.1, borderpad=0.0, handlelength=1.0,
                ncol=2, columnspacing=0.8)


def plot_statistics(document: dict[str, Any], width: float) -> Figure:
    """The stats figure at `width` inches.

    Args:
        document: a stats result as JSON (`StatsResult.to_json()` or the file's contents).
        width: figure width in inches (a venue's column or text width).
    Returns:
        A matplotlib Figure (not attached to pyplot); save it with `save_figure`.
    """
    share = document.get("in_object_share")
    with paper_style():
        side_by_side = share is not None and width >= 5.0
        panels = 1 if share is None else 2
        panel_height = min(2.2, 0.52 * width) if not side_by_side else min(2.4, 0.36 * width)
        height = panel_height * (1 if side_by_side else panels)
        # The legends sit above their panels: one band of rows at the legend's font size.
        rows = -(-len(document["settings"]["layers"]) // _LEGEND_COLUMNS)
        band = rows * (FONT_SIZE - 1) * 1.35 / 72 + 0.06
        figure = Figure(figsize=(width, height))
        if side_by_side:
            grid = figure.add_gridspec(1, 2, width_ratios=(1.6, 1.0), left=0.45 / width,
                                       right=1 - 0.05 / width, bottom=0.3 / height,
                                       top=1 - band / height,
                                       wspace=0.55 / (width / 2))
            axes = [figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])]
        else:
            grid = figure.add_gridspec(panels, 1, left=0.45 / width, right=1 - 0.05 / width,
                                       bottom=0.22 / height, top=1 - band / height,
                                       hspace=(0.36 + band) / panel_height)
            axes = [figure.add_subplot(grid[i, 0]) for i in range(panels)]
        _dilation_panel(axes[0], document)
        if share is not None:
            depth = len(document["settings"]["layers"])
            _share_panel(axes[1], share, LAYER_COLORS[(depth - 1) % len(LAYER_COLORS)])
        style_axes(axes)
    return figure


def style_axes(axes) -> None:
    """The statistics figures' axes: short ticks, no top and right spines, thin others."""
    for ax in axes:
        ax.tick_params(length=2, width=0.5, pad=1.5)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
        for spine in ("left", "bottom"):
            ax.spines[spine].set_linewidth(0.5)
