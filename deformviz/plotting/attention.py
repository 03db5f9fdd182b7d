"""Figures of deformable attention (Deformable DETR's appendix view): for a query, its
reference point (a cross), every sampling point coloured by its attention weight (a shared
colour bar, viridis: colour-blind safe and monotone in lightness, so it prints in grey too),
levels told apart by marker, optionally the predicted box; one panel per query, or per head
or level of each query.

Takes plain data (`AttentionResult`); no torch, no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from deformviz.errors import InputError
from deformviz.visualize.attention_results import AttentionResult, AttentionUnit

from .panels import LEGEND_FONT_SIZE, image_panels
from .size import as_width
from .style import BOX_COLOR, UNIT_COLOR

__all__ = ["plot_attention", "SPLITS", "LEVEL_MARKERS", "COLORMAP"]

SPLITS = ("none", "head", "level")
LEVEL_MARKERS = ("o", "s", "^", "D", "v", "p")  # level 1 (finest) first
COLORMAP = "viridis"
_COLORBAR_BAND = 0.40  # inches below the legend: bar, tick labels and its label
_CROSS_SIZE = 8.0  # points across the reference cross
_CROSS_WIDTH = 1.3  # points, its stroke
_MIN_SIDE = 1.6  # marker side (points) of the lightest drawn point
_MAX_SIDE = 4.2  # ... and of the heaviest


def _panels(unit: AttentionUnit, split: str) -> list[tuple[str, np.ndarray]]:
    """(title suffix, [M, L, K] bool: which points the panel draws) per panel of a unit."""
    everything = unit.point_mask  # a level with fewer points is padded: never drawn
    if split == "none":
        return [("", everything)]
    panels = []
    count = unit.heads if split == "head" else unit.levels
    for i in range(count):
        chosen = np.zeros_like(everything)
        if split == "head":
            chosen[i] = everything[i]
        else:
            chosen[:, i] = everything[:, i]
        panels.append((f"{split} {i + 1}", chosen))
    return panels


def _title(unit: AttentionUnit, suffix: str) -> str:
    """"dec 6, q17" and, on a second line, "cat 0.91" for a whole query; "dec 6, q17 · head 3"
    for a split panel: short enough for column-width panels, and telling layers apart when one
    query is followed through them."""
    where = unit.stage[:3] if unit.index is None else f"{unit.stage[:3]} {unit.index + 1}"
    title = f"{where}, q{unit.query}"
    if suffix:
        return f"{title} · {suffix}"
    if unit.detection is not None:
        title += f"\n{unit.detection.label} {unit.detection.score:.2f}"
    return title


def _draw_points(ax: Axes, unit: AttentionUnit, chosen: np.ndarray, norm: Normalize,
                 threshold: float, cmap: str) -> int:
    """The chosen points at or above `threshold`, lightest first (heavy ones on top), marker
    by level, side growing with the weight. Returns how many were drawn."""
    drawn = 0
    top = max(norm.vmax, 1e-12)
    for level in range(unit.levels):
        mask = chosen[:, level] & (unit.weights[:, level] >= threshold)
        points, weights = unit.points[:, level][mask], unit.weights[:, level][mask]
        if len(points) == 0:
            continue
        order = np.argsort(weights, kind="stable")
        points, weights = points[order], weights[order]
        sides = _MIN_SIDE + (_MAX_SIDE - _MIN_SIDE) * np.sqrt(np.clip(weights / top, 0, 1))
        ax.scatter(points[:, 0], points[:, 1], c=weights, cmap=cmap, norm=norm, s=sides ** 2,
                   marker=LEVEL_MARKERS[level % len(LEVEL_MARKERS)], edgecolors="#FFFFFF",
                   linewidths=0.3, zorder=10 + level / 10, gid=f"level{level + 1}")
        drawn += len(points)
    return drawn


def _draw_reference(ax: Axes, unit: AttentionUnit, show_box: bool) -> None:
    """An open cross (the paper's), green over a white outline: points under it stay visible."""
    x, y = unit.reference
    for color, width in (("#FFFFFF", _CROSS_WIDTH + 1.0), (UNIT_COLOR, _CROSS_WIDTH)):
        ax.scatter([x], [y], marker="+", s=_CROSS_SIZE ** 2, c=color, linewidths=width,
                   zorder=30, gid="reference")
    if show_box and unit.detection is not None:
        x1, y1, x2, y2 = unit.detection.box  # continuous pixels -> the image's index frame
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                               edgecolor=BOX_COLOR, linewidth=1.0, zorder=5, gid="box"))


def _legend_handles(levels: int, strides: Sequence[tuple[float, float]],
                    show_box: bool) -> list[Line2D]:
    handles = [Line2D([], [], linestyle="none", marker="+", markersize=6,
                      markeredgecolor=UNIT_COLOR, markeredgewidth=_CROSS_WIDTH,
                      label="reference")]
    for level in range(levels):
        stride = strides[level][1] if level < len(strides) else None
        label = f"level {level + 1}" + (f" (/{stride:g})" if stride else "")
        handles.append(Line2D([], [], linestyle="none",
                              marker=LEVEL_MARKERS[level % len(LEVEL_MARKERS)], markersize=3.5,
                              markerfacecolor="#777777", markeredgecolor="#FFFFFF",
                              markeredgewidth=0.3, label=label))
    if show_box:
        handles.append(Line2D([], [], color=BOX_COLOR, linewidth=1.0, label="predicted box"))
    return handles


def _colorbar_band(figure: Figure, mappable: ScalarMappable, label: str) -> None:
    """Grow the figure by a band at the bottom and put a horizontal colour bar in it (the
    panels and the legend keep their sizes in inches)."""
    old_height = figure.get_figheight()
    new_height = old_height + _COLORBAR_BAND
    for ax in figure.axes:
        x0, y0, w, h = ax.get_position().bounds
        ax.set_position([x0, (y0 * old_height + _COLORBAR_BAND) / new_height, w,
                         h * old_height / new_height])
    for legend in figure.legends:
        legend.set_bbox_to_anchor((0.5, _COLORBAR_BAND / new_height),
                                  transform=figure.transFigure)
    figure.set_size_inches(figure.get_figwidth(), new_height)
    width = min(1.8, figure.get_figwidth() * 0.6) / figure.get_figwidth()
    bar = figure.add_axes([0.5 - width / 2, 0.2 / new_height, width, 0.07 / new_height])
    colorbar = figure.colorbar(mappable, cax=bar, orientation="horizontal")
    colorbar.ax.tick_params(labelsize=LEGEND_FONT_SIZE - 1, length=2, pad=1, width=0.5)
    colorbar.outline.set_linewidth(0.5)
    colorbar.ax.set_title(label, fontsize=LEGEND_FONT_SIZE, pad=2)


def plot_attention(result: AttentionResult, width: float | str = "cvpr-column", *,
                   split: str = "none", threshold: float = 0.0, show_box: bool = True,
                   titles: bool = True, legend: bool = True, cmap: str = COLORMAP,
                   fig: Figure | None = None, ax: Axes | Sequence[Axes] | None = None
                   ) -> Figure:
    """Draw where each query of `result` samples, over the original image.

    Args:
        result: from `deformviz.visualize.attention.attention_queries`.
        width: figure width: inches, or "3.25in", "85mm", "cvpr-column", ...
        split: "none" (one panel per query), "head" or "level" (a panel per head or level).
        threshold: hide points whose attention weight is below it (display only: the
            weights themselves are never renormalised).
        show_box: draw the query's predicted box when it has one.
        titles, legend: panel titles; the marker legend and the colour bar.
        cmap: a matplotlib colormap name (default viridis).
        fig, ax: an empty Figure to draw into, or the caller's axes (one per panel).
    Returns:
        A matplotlib Figure (not attached to pyplot); save it with `save_figure`.
    Raises:
        InputError: unknown split, a threshold outside [0, 1), no queries, or every point
            under the threshold.

    Example:
        >>> from tests.plotting.synthetic import attention_result
        >>> figure = plot_attention(attention_result(), "cvpr-column", split="level")
        >>> len([a for a in figure.axes if a.images])
        4
    """
    if split not in SPLITS:
        raise InputError(f"split={split!r}: expected one of {', '.join(SPLITS)}")
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"threshold={threshold!r}: expected a weight in [0, 1)")
    if not result.units:
        raise InputError("no queries to draw")
    inches = as_width(width)
    panels = [(unit, suffix, chosen) for unit in result.units
              for suffix, chosen in _panels(unit, split)]
    visible = [u.weights[c & (u.weights >= threshold)] for u, _, c in panels]
    if not any(len(v) for v in visible):
        raise InputError(f"threshold={threshold:g} hides every sampling point")
    norm = Normalize(0.0, float(max(v.max() for v in visible if len(v))))
    boxes = show_box and any(u.detection is not None for u in result.units)
    handles = _legend_handles(max(u.levels for u in result.units), result.level_strides,
                              boxes) if legend else None
    names = [_title(u, s) if titles else None for u, s, _ in panels]
    figure, axes = image_panels(result.image.pixels, names, inches, handles, fig=fig, ax=ax)
    for panel, (unit, _, chosen) in zip(axes, panels):
        _draw_points(panel, unit, chosen, norm, threshold, cmap)
        _draw_reference(panel, unit, show_box)
    if legend:
        mappable = ScalarMappable(norm=norm, cmap=cmap)
        label = "attention weight" + (f" (≥ {threshold:g} shown)" if threshold > 0 else "")
        if ax is None:
            _colorbar_band(figure, mappable, label)
        else:
            figure.colorbar(mappable, ax=axes, orientation="horizontal", label=label,
                            fraction=0.05, pad=0.08)
    return figure
