"""Shared drawing steps: a figure of image panels, points, a legend row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .layout import row_layout
from .style import FONT_SIZE, PointStyle

__all__ = ["image_panels", "draw_points", "legend_row", "handle"]


def image_panels(image: np.ndarray, titles: Sequence[str | None], width: float,
                 legend: bool) -> tuple[Figure, list[Axes]]:
    """A figure `width` inches wide with one panel per title, each showing `image` undistorted.

    Panels use matplotlib's default image extent, so pixel (i, j) is centred at (i, j): points
    in index coordinates go on as they are, continuous boxes shifted by -0.5.
    """
    show_titles = any(titles)
    layout = row_layout(len(titles), image.shape[:2], width, show_titles, legend)
    figure = Figure(figsize=(layout.width, layout.height))
    axes = []
    height, width_px = image.shape[:2]
    for rect, title in zip(layout.axes_rects, titles):
        ax = figure.add_axes(rect)
        ax.imshow(image, interpolation="antialiased", resample=True)
        ax.set_xlim(-0.5, width_px - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_axis_off()
        if title:
            ax.set_title(title, fontsize=FONT_SIZE, pad=2.0)
        axes.append(ax)
    return figure, axes


def draw_points(ax: Axes, points: np.ndarray, style: PointStyle, zorder: float) -> None:
    """Plot [N, 2] (x, y) points with one marker style (as one path: small vector files)."""
    if len(points) == 0:
        return
    ax.plot(points[:, 0], points[:, 1], linestyle="none", marker=style.marker,
            markersize=style.size, color=style.color, markeredgecolor=style.edge,
            markeredgewidth=style.edge_width, zorder=zorder)


def handle(style: PointStyle, label: str) -> Line2D:
    """A legend entry for a point style."""
    return Line2D([], [], linestyle="none", marker=style.marker, markersize=style.size + 1,
                  color=style.color, markeredgecolor=style.edge,
                  markeredgewidth=style.edge_width, label=label)


def legend_row(figure: Figure, handles: Sequence[Line2D]) -> None:
    """One centred row of legend entries along the bottom of the figure."""
    figure.legend(handles=list(handles), loc="lower center", ncol=len(handles), frameon=False,
                  fontsize=FONT_SIZE - 1, handlelength=1.0, handletextpad=0.3,
                  columnspacing=1.0, borderaxespad=0.05, bbox_to_anchor=(0.5, 0.0))
