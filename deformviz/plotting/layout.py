"""Panels in rows at an exact physical width: the figure's size is computed, never fitted.

`tight` bounding boxes would change the size a venue asked for, so panel positions are laid
out by hand, in inches: image panels keep their aspect ratio and are never narrower than
`MIN_PANEL_WIDTH` (more panels wrap into rows of equal count), each row has a title band as
tall as its longest wrapped title, and an optional legend band runs along the bottom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from deformviz.errors import InputError

from .size import FIGURE_MARGIN, MIN_FIGURE_WIDTH, MIN_PANEL_WIDTH, PANEL_GAP

__all__ = ["PanelLayout", "panel_grid", "grid_layout"]

_ROW_GAP = 0.05  # inches between a panel row and the next row's titles


@dataclass(frozen=True)
class PanelLayout:
    """`rows` x `columns` image panels. Lengths in inches; `axes_rects` are figure fractions
    (left, bottom, width, height), one per panel, row-major from the top left."""

    width: float
    height: float
    columns: int
    rows: int
    panel_width: float
    panel_height: float
    axes_rects: tuple[tuple[float, float, float, float], ...]
    title_bands: tuple[float, ...]
    legend_band: float


def panel_grid(panels: int, width: float) -> tuple[int, int, float]:
    """(columns, rows, panel width in inches) for `panels` panels across `width` inches.

    As many columns as fit at MIN_PANEL_WIDTH, then rows balanced so every row but the last
    is full and the last is as full as possible (7 panels at 6.875in: 4 + 3, not 6 + 1).

    Raises:
        InputError: `width` cannot hold even one legible panel (says the smallest width).
    """
    if panels < 1:
        raise ValueError(f"need at least one panel, got {panels}")
    usable = width - 2 * FIGURE_MARGIN
    fit = int(math.floor((usable + PANEL_GAP) / (MIN_PANEL_WIDTH + PANEL_GAP) + 1e-9))
    if fit < 1:
        raise InputError(f"width {width:.2f}in is too narrow to draw legibly; the smallest "
                         f"usable width is {MIN_FIGURE_WIDTH:.2f}in")
    rows = math.ceil(panels / min(panels, fit))
    columns = math.ceil(panels / rows)
    panel_width = (usable - (columns - 1) * PANEL_GAP) / columns
    return columns, rows, panel_width


def grid_layout(panels: int, image_size: tuple[int, int], width: float,
                title_bands: Sequence[float], legend_band: float) -> PanelLayout:
    """Lay out `panels` panels of an (H, W) image across `width` inches.

    Args:
        title_bands: per row, the height (inches) its titles need (0 for none).
        legend_band: height (inches) of the legend along the bottom (0 for none).
    """
    columns, rows, panel_w = panel_grid(panels, width)
    if len(title_bands) != rows:
        raise ValueError(f"need {rows} title bands, got {len(title_bands)}")
    panel_h = panel_w * image_size[0] / image_size[1]
    height = (2 * FIGURE_MARGIN + sum(title_bands) + rows * panel_h + (rows - 1) * _ROW_GAP
              + legend_band)
    rects = []
    top = height - FIGURE_MARGIN
    for row in range(rows):
        top -= title_bands[row]
        bottom = top - panel_h
        for column in range(columns):
            if len(rects) == panels:
                break
            left = FIGURE_MARGIN + column * (panel_w + PANEL_GAP)
            rects.append((left / width, bottom / height, panel_w / width, panel_h / height))
        top = bottom - _ROW_GAP
    return PanelLayout(width, height, columns, rows, panel_w, panel_h, tuple(rects),
                       tuple(title_bands), legend_band)
