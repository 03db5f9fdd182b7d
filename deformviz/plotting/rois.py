"""Figures of deformed RoI bins (the paper's Fig. 7): boxes, class labels, k x k bins.

Line widths follow the panel's physical width. Labels (class and score) sit above their box
where there is room, else inside or below it, slid along to stay inside the image, and never
over another label: where boxes crowd, a label moves to the nearest free place with a thin
leader line to its box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from deformviz.visualize.results import RoIResult

from .panels import LEGEND_FONT_SIZE, image_panels, text_width
from .scale import points_per_pixel
from .size import as_width
from .style import BIN_COLOR, BOX_COLOR, REGULAR_BIN_COLOR, paper_style

__all__ = ["plot_rois", "place_labels"]

_LABEL_PAD = 0.15  # label box padding, in font sizes


def _rectangles(boxes: np.ndarray) -> list[np.ndarray]:
    """[N, 4] continuous (x1, y1, x2, y2) -> closed outlines over an index-coordinate image."""
    x1, y1, x2, y2 = (np.asarray(boxes, dtype=np.float64) - 0.5).T
    return [np.array([[a, b], [c, b], [c, d], [a, d]]) for a, b, c, d in zip(x1, y1, x2, y2)]


def _outline(ax: Axes, boxes: np.ndarray, color: str, width: float, style: str,
             zorder: float, gid: str, halo: bool = False) -> None:
    outlines = PolyCollection(_rectangles(boxes), closed=True, facecolors="none",
                              edgecolors=color, linewidths=width, linestyles=style,
                              zorder=zorder, gid=gid)
    if halo:  # a faint white rim keeps dark lines visible on dark content
        outlines.set_path_effects([patheffects.withStroke(linewidth=width * 2.2,
                                                          foreground=(1, 1, 1, 0.55)),
                                   patheffects.Normal()])
    ax.add_collection(outlines)


_Rect = tuple[float, float, float, float]  # (x0, y0, x1, y1), index coordinates


def _overlaps(a: _Rect, b: _Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(boxes: Sequence[Sequence[float]], label_sizes: Sequence[tuple[float, float]],
                 image_size: tuple[int, int]) -> list[tuple[float, float, bool]]:
    """Where each box's label goes: on the canvas and over no other label.

    Args:
        boxes: [K] continuous (x1, y1, x2, y2) boxes, the most important first (each label
            takes the best free place left).
        label_sizes: [K] (width, height) of each label in image pixels.
        image_size: (H, W).
    Returns:
        Per box (x, y, leader): the label's top-left corner in index coordinates, and True
        when it sits away from its box (drawn with a leader line to the box's corner).
        Tried in order: above the box, inside its top edge, below it, inside its bottom edge
        (left, then right aligned); else the free place nearest the box's corner.
    """
    height, width = image_size
    left, top = -0.5, -0.5
    placed: list[_Rect] = []
    result: list[tuple[float, float, bool]] = []
    for box, (label_w, label_h) in zip(boxes, label_sizes):
        x1, y1, x2, y2 = (float(v) - 0.5 for v in box)

        def fits(x: float, y: float) -> _Rect | None:
            x = min(max(x, left), width - 0.5 - label_w)  # slid along into the image
            rect = (x, y, x + label_w, y + label_h)
            if x < left or y < top or rect[3] > height - 0.5 + 1e-9:
                return None
            return None if any(_overlaps(rect, other) for other in placed) else rect

        chosen, leader = None, False
        for y in (y1 - label_h, y1, y2, y2 - label_h):
            for x in (x1, x2 - label_w):
                chosen = fits(x, y)
                if chosen:
                    break
            if chosen:
                break
        if chosen is None:  # crowded: the nearest free place, joined to the box by a leader
            step_x, step_y = max(label_w / 4, 1.0), max(label_h / 2, 1.0)
            spots = [(x, y) for y in np.arange(top, height - 0.5 - label_h + 1e-9, step_y)
                     for x in np.arange(left, width - 0.5 - label_w + 1e-9, step_x)]
            spots.sort(key=lambda p: (p[0] - x1) ** 2 + (p[1] + label_h - y1) ** 2)
            for x, y in spots:
                chosen = fits(float(x), float(y))
                if chosen:
                    leader = True
                    break
        if chosen is None:  # no free place left on the canvas: above the box, as before
            x = min(max(x1, left), max(width - 0.5 - label_w, left))
            chosen = (x, max(y1 - label_h, top), 0.0, 0.0)
        placed.append(chosen)
        result.append((chosen[0], chosen[1], leader))
    return result


def _line_widths(panel_width: float) -> tuple[float, float, float]:
    """(box, deformed bins, regular bins) line widths in points for a panel this many inches
    wide: thin enough on a column, visible on a page."""
    unit = float(np.clip(panel_width / 3.3, 0.7, 1.4))
    return 1.2 * unit, 0.8 * unit, 0.6 * unit


def plot_rois(result: RoIResult, width: float | str = 3.28125, show_regular: bool = False,
              labels: bool = True, legend: bool = True, *, fig: Figure | None = None,
              ax: Axes | None = None) -> Figure:
    """Draw each box (yellow, with the head's class and score), its deformed bins (black) and,
    with `show_regular`, the undeformed bins (dashed dark grey) over the original image.

    Args:
        result: from `deformviz.visualize.roi_bins`.
        width: figure width: inches, or a string such as "3.25in", "85mm", "cvpr-column".
        show_regular: also draw the regular (undeformed) bins, dashed.
        labels: the class and score of each box (turn off for boxes outside the classes).
        legend: a legend along the bottom explaining the line styles.
        fig: an empty Figure to draw into; ax: an Axes to draw into (the layout is yours).
    Returns:
        A matplotlib Figure; save it with `save_figure`.

    Example:
        >>> from deformviz.visualize import roi_bins
        >>> bins = roi_bins(model, "samples/coffee.jpg", [[150, 20, 430, 300]], long_side=256)
        >>> figure = plot_rois(bins, "cvpr-column", show_regular=True, labels=False)
        >>> len(figure.axes[0].collections)  # regular bins, deformed bins, the box
        3
    """
    inches = as_width(width)
    with paper_style():
        box_w, bin_w, regular_w = _line_widths(inches)
        entries = None
        if legend:
            entries = [Line2D([], [], color=BOX_COLOR, linewidth=box_w, label="box"),
                       Line2D([], [], color=BIN_COLOR, linewidth=bin_w,
                              label="deformed bins (learned offsets)")]
            if show_regular:
                entries.append(Line2D([], [], color=REGULAR_BIN_COLOR, linewidth=regular_w,
                                      linestyle="--", label="regular bins (no offsets)"))
        figure, (panel,) = image_panels(result.image.pixels, [None], inches, entries,
                                        fig=fig, ax=ax)
        panel_in = points_per_pixel(panel) * result.image.size[1] / 72
        box_w, bin_w, regular_w = _line_widths(panel_in)
        for index, box in enumerate(result.boxes):
            if show_regular:
                _outline(panel, box.regular.reshape(-1, 4), REGULAR_BIN_COLOR, regular_w, "--",
                         3, f"regular{index}", halo=True)
            _outline(panel, box.deformed.reshape(-1, 4), BIN_COLOR, bin_w, "-", 4,
                     f"deformed{index}", halo=True)
            _outline(panel, np.array([box.box]), BOX_COLOR, box_w, "-", 5, f"box{index}")
        if labels:
            _labels(panel, result.boxes, result.image.size)
        return figure


def _labels(ax: Axes, boxes, image_size: tuple[int, int]) -> None:
    """Class and score of every box, placed by `place_labels` (highest score first)."""
    size = LEGEND_FONT_SIZE
    scale = points_per_pixel(ax)
    pad = 2 * _LABEL_PAD * size
    order = sorted(range(len(boxes)), key=lambda k: -boxes[k].score)
    texts = {k: f"{boxes[k].label} {boxes[k].score:.2f}" for k in order}
    sizes = [((text_width(texts[k], size) + pad) / scale, (size * 1.2 + pad) / scale)
             for k in order]
    spots = place_labels([boxes[k].box for k in order], sizes, image_size)
    pad_px = _LABEL_PAD * size / scale
    for k, (label_w, label_h), (x, y, leader) in zip(order, sizes, spots):
        if leader:  # from the label's nearest corner to the box's top-left corner
            bx, by = boxes[k].box[0] - 0.5, boxes[k].box[1] - 0.5
            lx = x if abs(x - bx) < abs(x + label_w - bx) else x + label_w
            ly = y if abs(y - by) < abs(y + label_h - by) else y + label_h
            ax.plot([lx, bx], [ly, by], color=BOX_COLOR, linewidth=0.6, zorder=6,
                    solid_capstyle="butt", gid=f"leader{k}")
        ax.text(x + pad_px, y + pad_px, texts[k], fontsize=size, color="black", va="top",
                ha="left", zorder=7, clip_on=True, gid=f"label{k}",
                bbox=dict(boxstyle=f"square,pad={_LABEL_PAD}", facecolor=BOX_COLOR,
                          edgecolor="none"))
