"""Figures of sampling locations (the paper's Fig. 6): one panel per unit, or a grid overview.

Takes plain data (`SamplingResult`), any number of levels (9, 81, 729, ... points per unit).
Three styles:
- "points": every point as a small square with a contrasting edge, sized so the deepest level
  covers at most a fifth of the unit's neighbourhood (`deformviz.plotting.scale`);
- "hull": the outline (convex hull) of each level, with the top level's points;
- "density": where the deepest level concentrates, as contours of its smoothed density
  (weighted by modulation), with the top level's points over it.
With DCNv2 modulation (weights not all 1) the opacity of each point, or its weight in the
density, follows its weight (the product of masks along its path); the legend says so.
With several offset groups the legend names the group drawn; all groups at once (`points`
style) share each unit's panel, one marker shape per group (`GROUP_MARKERS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from deformviz.errors import InputError
from deformviz.visualize.results import SamplingResult, UnitSampling

from .panels import image_panels
from .scale import (deepest_opacity, level_marker_sizes, overview_marker_size,
                    points_per_pixel)
from .size import as_width
from .style import (LAYER_COLORS, MAX_LEVELS, UNIT_COLOR, contrast_edge, level_colors,
                    paper_style)

__all__ = ["plot_sampling", "STYLES", "is_modulated", "unit_title", "unit_titles"]

STYLES = ("points", "hull", "density")
_MIN_ALPHA = 0.15  # opacity of a point whose modulation weight is 0
# The overview's taps and spokes are the top layer's: its colour (blue, which also keeps
# apart from warm photos: skin, orange suits).
GRID_COLOR = LAYER_COLORS[0]
#: Marker of offset group g when several groups share a panel (the unit is the circle).
GROUP_MARKERS = ("s", "^", "D", "v", "P", "X", "*", "h")


def is_modulated(result: SamplingResult) -> bool:
    """True when any point's weight differs from 1 (a DCNv2 chain)."""
    return any(not np.allclose(w, 1.0) for s in result.samplings for w in s.weights)


def _level(sampling: UnitSampling, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Drawn (x, y) points [N, 2] and weights [N] of a level (1-based). Points under an
    out-of-map ancestor were never evaluated by the network: not drawn."""
    active = np.asarray(sampling.active[level - 1], dtype=bool)
    return (np.asarray(sampling.points[level - 1], dtype=np.float64)[active],
            np.asarray(sampling.weights[level - 1], dtype=np.float64)[active])


def _alphas(weights: np.ndarray, modulated: bool) -> np.ndarray:
    """Opacity per point: 1 without modulation; else the weight's magnitude relative to the
    level's largest (DCNv4's raw modulation, and so a product of it, may be negative)."""
    if not modulated or len(weights) == 0:
        return np.ones(len(weights))
    weights = np.abs(weights)
    top = float(weights.max())
    relative = weights / top if top > 0 else np.zeros_like(weights)
    return _MIN_ALPHA + (1 - _MIN_ALPHA) * np.clip(relative, 0, 1)


def _scatter(ax: Axes, points: np.ndarray, color: str, size: float, alphas: np.ndarray,
             zorder: float, marker: str = "s", edge_scale: float = 0.18, gid: str = ""):
    """[N, 2] (x, y) points as squares `size` points across, contrasting edge included (the
    edge straddles the outline, so fill side + edge width = `size`)."""
    face = np.tile(to_rgba(color), (len(points), 1))
    edge = np.tile(to_rgba(contrast_edge(color) if edge_scale else "none"), (len(points), 1))
    face[:, 3] = alphas
    edge[:, 3] = alphas
    inner = size / (1 + edge_scale)
    return ax.scatter(points[:, 0], points[:, 1], s=inner ** 2, marker=marker, facecolors=face,
                      edgecolors=edge, linewidths=inner * edge_scale, zorder=zorder, gid=gid)


def _draw_unit_marker(ax: Axes, sampling: UnitSampling, size: float) -> None:
    _scatter(ax, np.array([sampling.unit.pixel], dtype=np.float64), UNIT_COLOR, size,
             np.ones(1), 20, marker="o", edge_scale=0.15, gid="unit")


def _unit_size(level_sizes: Sequence[float]) -> float:
    return max(level_sizes[0] * 1.3, 3.5)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """[K, 2] hull vertices of [N, 2] points, counter-clockwise (Andrew's monotone chain)."""
    unique = np.unique(points, axis=0)
    if len(unique) < 3:
        return unique

    def half(sequence: list[tuple[float, float]]) -> list[tuple[float, float]]:
        chain: list[tuple[float, float]] = []
        for px, py in sequence:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (py - ay) - (by - ay) * (px - ax) > 0:
                    break
                chain.pop()
            chain.append((px, py))
        return chain

    ordered = [tuple(p) for p in unique.tolist()]
    lower, upper = half(ordered), half(ordered[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _draw_points(ax: Axes, sampling: UnitSampling, colors: Sequence[str], modulated: bool,
                 marker: str = "s") -> None:
    levels = [_level(sampling, level) for level in range(1, sampling.levels + 1)]
    scale = points_per_pixel(ax)
    sizes = level_marker_sizes([p for p, _ in levels], scale)
    for level in range(sampling.levels, 0, -1):  # deepest first, so shallower stay visible
        points, weights = levels[level - 1]
        if len(points):
            alphas = _alphas(weights, modulated)
            if level == sampling.levels:
                alphas = alphas * deepest_opacity(points, scale, sizes[-1])
            # An edge on a dot under a point across would be all the dot shows: colour only.
            edge = 0.18 if sizes[level - 1] >= 1.2 else 0.0
            _scatter(ax, points, colors[level - 1], sizes[level - 1], alphas,
                     10 - level / MAX_LEVELS, marker, edge_scale=edge, gid=f"level{level}")
    _draw_unit_marker(ax, sampling, _unit_size(sizes))


def _draw_hulls(ax: Axes, sampling: UnitSampling, colors: Sequence[str], modulated: bool) -> None:
    top_points, top_weights = _level(sampling, 1)
    sizes = level_marker_sizes([top_points], points_per_pixel(ax))
    for level in range(sampling.levels, 0, -1):
        points, _ = _level(sampling, level)
        if len(points) < 3:
            continue
        hull = _convex_hull(points)
        ax.add_collection(PolyCollection(
            [hull], closed=True, facecolors=[to_rgba(colors[level - 1], 0.18)],
            edgecolors=[colors[level - 1]], linewidths=0.9, zorder=8 - level / MAX_LEVELS,
            gid=f"hull{level}"))
    if len(top_points):
        _scatter(ax, top_points, colors[0], sizes[0], _alphas(top_weights, modulated), 10,
                 gid="level1")
    _draw_unit_marker(ax, sampling, _unit_size(sizes))


def _density(points: np.ndarray, weights: np.ndarray, xs: np.ndarray,
             ys: np.ndarray) -> np.ndarray:
    """Gaussian-smoothed density of weighted points on the grid xs x ys, bandwidth from
    Scott's rule on the points' spread (pixels)."""
    spread = max(float(np.std(points, axis=0).mean()), 1.0)
    bandwidth = spread * len(points) ** (-1 / 6)
    gx = np.exp(-0.5 * ((xs[None, :] - points[:, :1]) / bandwidth) ** 2)  # [N, X]
    gy = np.exp(-0.5 * ((ys[None, :] - points[:, 1:]) / bandwidth) ** 2)  # [N, Y]
    return (gy * weights[:, None]).T @ gx  # [Y, X]


def _draw_density(ax: Axes, sampling: UnitSampling, colors: Sequence[str],
                  modulated: bool) -> None:
    points, weights = _level(sampling, sampling.levels)
    if len(points) >= 3:
        x0, x1 = ax.get_xlim()
        y1, y0 = ax.get_ylim()
        xs = np.linspace(x0, x1, 160)
        ys = np.linspace(y0, y1, max(int(160 * (y1 - y0) / (x1 - x0)), 16))
        field = _density(points, weights if modulated else np.ones(len(points)), xs, ys)
        # Contours holding the densest 25%, 50% and 75% of the (weighted) points.
        ordered = np.sort(field.ravel())[::-1]
        cumulative = np.cumsum(ordered) / ordered.sum()
        thresholds = sorted({float(ordered[min(np.searchsorted(cumulative, q),
                                               len(ordered) - 1)]) for q in (0.75, 0.5, 0.25)})
        if len(thresholds) == 3 and thresholds[0] > 0:
            deep = colors[-1]
            ax.contourf(xs, ys, field, levels=thresholds + [float(field.max()) * 1.01],
                        colors=[to_rgba(deep, a) for a in (0.2, 0.35, 0.5)], zorder=6)
            ax.contour(xs, ys, field, levels=thresholds, colors=[deep], linewidths=0.6,
                       zorder=7)
    top_points, top_weights = _level(sampling, 1)
    sizes = level_marker_sizes([top_points], points_per_pixel(ax))
    if len(top_points):
        _scatter(ax, top_points, colors[0], sizes[0], _alphas(top_weights, modulated), 10,
                 gid="level1")
    _draw_unit_marker(ax, sampling, _unit_size(sizes))


_COARSE = (("top", "", "bottom"), ("left", "", "right"))
_FINE = (("top", "upper", "", "lower", "bottom"),
         ("far left", "left", "", "right", "far right"))


def _position_words(pixel: tuple[float, float], image_size: tuple[int, int],
                    words: tuple[tuple[str, ...], tuple[str, ...]] = _COARSE) -> str:
    """Where (x, y) lies in an (H, W) image, in words: "top left", "centre", "bottom"...
    (`_FINE` splits the image in 5 x 5 instead of 3 x 3: "upper far left")."""
    height, width = image_size
    rows, columns = words
    column = columns[min(int(len(columns) * pixel[0] / max(width, 1)), len(columns) - 1)]
    row = rows[min(int(len(rows) * pixel[1] / max(height, 1)), len(rows) - 1)]
    return f"{row} {column}".strip() or "centre"


_ROLE_WORDS = {"peak": "strong object response", "requested": "unit", "grid": "unit"}


def unit_title(unit, image_size: tuple[int, int], detail: int = 0) -> str:
    """A panel title a reader understands: the unit's role, what it sits on, and where.

    "small object: circle 0.83", "background, top left", "unit at (120, 80)". `detail` tells
    units apart that would share a title: 1 adds (or refines) the position words, 2 also the
    pixel position.
    """
    x, y = unit.pixel
    if unit.role in ("requested", "grid"):
        return f"unit at ({x:.0f}, {y:.0f})"
    if unit.detection is not None:
        title = f"{unit.role}: {unit.detection.label} {unit.detection.score:.2f}"
        where = _position_words(unit.pixel, image_size, _COARSE if detail < 2 else _FINE)
        title = title if detail == 0 else f"{title}, {where}"
    else:
        role = _ROLE_WORDS.get(unit.role, unit.role)
        words = _COARSE if detail == 0 else _FINE
        title = f"{role}, {_position_words(unit.pixel, image_size, words)}"
    return title if detail < 2 else f"{title} ({x:.0f}, {y:.0f})"


def unit_titles(units, image_size: tuple[int, int]) -> list[str]:
    """`unit_title` of every unit, no two alike: a title shared by several units gets finer
    position words, then the pixel position, then a number."""
    titles = [unit_title(unit, image_size) for unit in units]
    for detail in (1, 2):
        shared = {t for t in titles if titles.count(t) > 1}
        titles = [unit_title(unit, image_size, detail) if title in shared else title
                  for unit, title in zip(units, titles)]
    shared = {t for t in titles if titles.count(t) > 1}
    seen: dict[str, int] = {}
    for index, title in enumerate(titles):
        if title in shared:
            seen[title] = seen.get(title, 0) + 1
            titles[index] = f"{title} #{seen[title]}"
    return titles


_DRAW = {"points": _draw_points, "hull": _draw_hulls, "density": _draw_density}


def _draw_grid(ax: Axes, result: SamplingResult) -> None:
    """Every unit with its 9 top-level taps and thin spokes from the unit to each tap."""
    color = GRID_COLOR
    spokes, taps, units = [], [], []
    markers = []
    for sampling in result.samplings:
        points, _ = _level(sampling, 1)
        spokes += [[sampling.unit.pixel, tuple(p)] for p in points]
        taps.append(points)
        units.append(sampling.unit.pixel)
        markers.append(_group_marker(result, sampling))
    distances = [np.hypot(*(tap - np.asarray(unit))) for unit, points in zip(units, taps)
                 for tap in points]
    size = overview_marker_size(float(np.median(distances)) if distances else 1.0,
                                points_per_pixel(ax))
    ax.add_collection(LineCollection(spokes, colors=color, linewidths=max(size * 0.15, 0.2),
                                     zorder=2))
    for marker in dict.fromkeys(markers):
        mine = [points for points, m in zip(taps, markers) if m == marker]
        chosen = np.concatenate(mine) if mine else np.zeros((0, 2))
        if len(chosen):
            _scatter(ax, chosen, color, size, np.ones(len(chosen)), 3, marker, gid="level1")
    if units:
        _scatter(ax, np.array(units, dtype=np.float64), UNIT_COLOR, size * 1.3,
                 np.ones(len(units)), 4, marker="o", edge_scale=0.15, gid="unit")


def _group_marker(result: SamplingResult, sampling: UnitSampling) -> str:
    """The marker of a sampling's offset group when several share a panel, else squares."""
    if len(result.offset_groups) == 1:
        return "s"
    return GROUP_MARKERS[sampling.offset_group % len(GROUP_MARKERS)]


def _group_entries(result: SamplingResult) -> list:
    """Legend entries saying which offset group is drawn (only for layers with several)."""
    total = max((layer.offset_groups for layer in result.layers), default=1)
    if total == 1:
        return []
    if len(result.offset_groups) == 1:
        return [Line2D([], [], linestyle="none", marker="none",
                       label=f"offset group {result.offset_groups[0]} of {total}")]
    return [Line2D([], [], linestyle="none", marker=GROUP_MARKERS[g % len(GROUP_MARKERS)],
                   markersize=4.5, color="0.35", label=f"offset group {g}")
            for g in result.offset_groups]


def _legend(result: SamplingResult, style: str, levels: int, colors: Sequence[str],
            modulated: bool) -> list:
    def square(color: str, label: str, size: float = 4.5) -> Line2D:
        return Line2D([], [], linestyle="none", marker="s", markersize=size, color=color,
                      markeredgecolor=contrast_edge(color), markeredgewidth=0.5, label=label)

    entries = [Line2D([], [], linestyle="none", marker="o", markersize=5, color=UNIT_COLOR,
                      markeredgecolor="white", markeredgewidth=0.6, label="unit")]
    names = result.layer_names
    # Points per level as traced (9, 81, 729 for 3x3 kernels; other kernels differ).
    counts = ([len(p) for p in result.samplings[0].points] if result.samplings
              else [9 ** level for level in range(1, levels + 1)])

    def name(level: int) -> str:
        return names[-level] if level <= len(names) else f"level {level}"

    def count(level: int) -> str:
        return f"{counts[level - 1] if level <= len(counts) else 9 ** level} points"

    if style == "points":
        entries += [square(colors[level - 1], f"{name(level)} ({count(level)})")
                    for level in range(1, levels + 1)]
    elif style == "hull":
        entries.append(square(colors[0], f"{name(1)} ({count(1)})"))
        entries += [Patch(facecolor=to_rgba(colors[level - 1], 0.18),
                          edgecolor=colors[level - 1], linewidth=0.9,
                          label=f"outline of {name(level)}")
                    for level in range(1, levels + 1)]
    else:
        entries.append(square(colors[0], f"{name(1)} ({count(1)})"))
        entries.append(Patch(facecolor=to_rgba(colors[-1], 0.35), edgecolor=colors[-1],
                             linewidth=0.6, label=f"densest 25/50/75% of {name(levels)} "
                                                  f"({count(levels)})"))
    if modulated:
        entries.append(square(colors[0] if style != "points" else colors[-1],
                              "faint: low modulation", 4.5))
        entries[-1].set_alpha(0.35)
    return entries + _group_entries(result)


def plot_sampling(result: SamplingResult, width: float | str = 6.875, titles: bool = True,
                  legend: bool = True, *, style: str = "points",
                  panel_titles: Sequence[str] | None = None, fig: Figure | None = None,
                  ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Draw the sampling locations of `result` over its original image.

    Args:
        result: from `deformviz.visualize.sample_locations` (any number of levels).
        width: figure width: inches, or a string such as "3.25in", "85mm", "cvpr-column".
            Units wrap into rows of panels at least 1 inch wide; the height follows from the
            image's aspect ratio.
        titles: a title over each panel (the unit's role and position).
        legend: a legend along the bottom.
        style: "points", "hull" or "density" (see the module docstring).
        panel_titles: one title per unit instead of the automatic ones.
        fig: an empty Figure to draw into (it is resized to `width` and the computed height).
        ax: draw into these axes instead (one Axes, or one per unit): the layout is yours.
    Returns:
        A matplotlib Figure (not attached to pyplot); save it with `save_figure`.

    Example:
        >>> from deformviz.visualize import sample_locations
        >>> result = sample_locations(model, "samples/chelsea.jpg", auto=2, levels=2)
        >>> figure = plot_sampling(result, "cvpr-column", style="hull")
        >>> round(float(figure.get_figwidth()), 3)
        3.281

        Into a subplot of your own figure:

        >>> import matplotlib.pyplot as plt
        >>> fig, axes = plt.subplots(1, 2, figsize=(6, 2.5))
        >>> plot_sampling(result, ax=axes) is fig
        True
        >>> plt.close(fig)
    """
    if style not in STYLES:
        raise InputError(f"style={style!r}: expected one of {', '.join(STYLES)}")
    if not 1 <= result.levels <= MAX_LEVELS:
        raise InputError(f"result has {result.levels} levels; figures draw 1..{MAX_LEVELS}")
    inches = as_width(width)
    if len(result.offset_groups) > len(GROUP_MARKERS):
        raise InputError(f"{len(result.offset_groups)} offset groups in one panel: at most "
                         f"{len(GROUP_MARKERS)} markers tell them apart; draw one group at a time")
    if len(result.offset_groups) > 1 and style != "points":
        raise InputError(f"style={style!r}: all offset groups in one panel are drawn as points "
                         "(one marker per group); choose one group for hull or density")
    modulated = is_modulated(result)
    colors = level_colors(result.levels)
    with paper_style():
        if result.mode == "grid":
            if style != "points":
                raise InputError(f"style={style!r}: the grid overview is drawn as points only")
            entries = None
            if legend:
                entries = _legend(result, "points", 1, (GRID_COLOR,), False)
            figure, (panel,) = _panels(result, [None], inches, entries, fig, ax)
            _draw_grid(panel, result)
            return figure
        panels = result.panels
        count = len(panels)
        if panel_titles is not None:
            names = list(panel_titles)
            if len(names) != count:
                raise InputError(f"panel_titles: {count} unit(s), got {len(names)} titles")
        else:
            names = unit_titles([samplings[0].unit for samplings in panels], result.image.size)
        shown = [n if titles else None for n in names] or [None]
        entries = _legend(result, style, result.levels, colors, modulated) if legend else None
        figure, axes = _panels(result, shown, inches, entries, fig, ax)
        for panel, samplings in zip(axes, panels):
            for sampling in samplings:
                if style == "points":
                    _draw_points(panel, sampling, colors, modulated,
                                 _group_marker(result, sampling))
                else:
                    _DRAW[style](panel, sampling, colors, modulated)
        return figure


def _panels(result: SamplingResult, titles, inches, entries, fig, ax):
    return image_panels(result.image.pixels, titles, inches, entries, fig=fig, ax=ax)
