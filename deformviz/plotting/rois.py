"""Figures of deformed RoI bins (the paper's Fig. 7): boxes, class labels, k x k bins.

Line widths follow the panel's physical width; labels sit above their box when there is room
and inside it otherwise, and are shifted left to stay inside the image, so nothing is cut off.
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

__all__ = ["plot_rois", "box_label_position"]

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


def box_label_position(box: Sequence[float], label_size: tuple[float, float],
                       image_size: tuple[int, int]) -> tuple[float, float, str]:
    """Where a label (width, height in image pixels) of a continuous box goes so that it lies
    inside the (H, W) image: (x, y) of its top-left corner in index coordinates, and "above"
    or "inside" the box."""
    height, width = image_size
    label_w, label_h = label_size
    x = min(max(box[0] - 0.5, -0.5), width - 0.5 - label_w)
    x = max(x, -0.5)
    if box[1] - 0.5 - label_h >= -0.5:
        return x, box[1] - 0.5 - label_h, "above"
    return x, min(box[1] - 0.5, height - 0.5 - label_h), "inside"


def _line_widths(panel_width: float) -> tuple[float, float, float]:
    """(box, deformed bins, regular bins) line widths in points for a panel this many inches
    wide: thin enough on a column, visible on a page."""
    unit = float(np.clip(panel_width / 3.3, 0.7, 1.4))
    return 1.2 * unit, 0.8 * unit, 0.6 * unit


def plot_rois(result: RoIResult, width: float | str = 3.28125, show_regular: bool = False,
              labels: bool = True, legend: bool = True, *, fig: Figure | None = None,
              ax: Axes | None = None) -> Figure:
    """Draw each box (yellow, with the head's class and score), its deformed bins (red) and,
    with `show_regular`, the undeformed bins (dashed blue) over the original image.

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
                _label(panel, box.box, f"{box.label} {box.score:.2f}", result.image.size)
        return figure


def _label(ax: Axes, box: Sequence[float], text: str, image_size: tuple[int, int]) -> None:
    size = LEGEND_FONT_SIZE
    scale = points_per_pixel(ax)
    pad = 2 * _LABEL_PAD * size
    label = ((text_width(text, size) + pad) / scale, (size * 1.2 + pad) / scale)
    x, y, _ = box_label_position(box, label, image_size)
    pad_px = _LABEL_PAD * size / scale
    ax.text(x + pad_px, y + pad_px, text, fontsize=size, color="black", va="top", ha="left",
            zorder=6, clip_on=True,
            bbox=dict(boxstyle=f"square,pad={_LABEL_PAD}", facecolor=BOX_COLOR,
                      edgecolor="none"))
