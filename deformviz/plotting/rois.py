"""Figures of deformed RoI bins (the paper's Fig. 7): boxes, class labels, k x k bins."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from deformviz.visualize.results import RoIResult

from .panels import image_panels, legend_row
from .style import BIN_COLOR, BOX_COLOR, FONT_SIZE, REGULAR_BIN_COLOR, paper_style

__all__ = ["plot_rois"]


def _rectangles(boxes: np.ndarray) -> list[np.ndarray]:
    """[N, 4] continuous (x1, y1, x2, y2) -> closed outlines over an index-coordinate image."""
    x1, y1, x2, y2 = (boxes - 0.5).T
    return [np.array([[a, b], [c, b], [c, d], [a, d]]) for a, b, c, d in zip(x1, y1, x2, y2)]


def _outline(ax: Axes, boxes: np.ndarray, color: str, width: float, style: str,
             zorder: float) -> None:
    ax.add_collection(PolyCollection(_rectangles(boxes), closed=True, facecolors="none",
                                     edgecolors=color, linewidths=width, linestyles=style,
                                     zorder=zorder))


def plot_rois(result: RoIResult, width: float = 3.28125, show_regular: bool = False,
              labels: bool = True, legend: bool = True) -> Figure:
    """Draw each box (yellow, with its predicted class), its deformed bins (red) and, with
    `show_regular`, the undeformed bins (dashed blue) over the original image.

    Args:
        result: from `deformviz.visualize.roi_bins`.
        width: figure width in inches.
    Returns:
        A matplotlib Figure; save it with `save_figure`.
    """
    with paper_style():
        figure, (ax,) = image_panels(result.image.pixels, [None], width, legend)
        for box in result.boxes:
            if show_regular:
                _outline(ax, box.regular.reshape(-1, 4), REGULAR_BIN_COLOR, 0.6, "--", 3)
            _outline(ax, box.deformed.reshape(-1, 4), BIN_COLOR, 0.8, "-", 4)
            _outline(ax, np.array([box.box]), BOX_COLOR, 1.2, "-", 5)
            if labels:
                ax.text(box.box[0] - 0.5, box.box[1] - 0.5, f"{box.label} {box.score:.2f}",
                        fontsize=FONT_SIZE - 1, color="black", va="bottom", ha="left",
                        zorder=6, clip_on=True,
                        bbox=dict(boxstyle="square,pad=0.15", facecolor=BOX_COLOR,
                                  edgecolor="none"))
        if legend:
            entries = [Line2D([], [], color=BOX_COLOR, linewidth=1.2, label="box"),
                       Line2D([], [], color=BIN_COLOR, linewidth=0.8, label="deformed bins")]
            if show_regular:
                entries.append(Line2D([], [], color=REGULAR_BIN_COLOR, linewidth=0.6,
                                      linestyle="--", label="regular bins"))
            legend_row(figure, entries)
        return figure
