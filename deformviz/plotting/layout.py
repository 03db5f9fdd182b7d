"""Panels in a row at an exact physical width: the figure's size is computed, never fitted.

`tight` bounding boxes would change the size a venue asked for, so panel positions are laid
out by hand: the image panels keep their aspect ratio, titles above, an optional legend row
below, all in inches.
"""

from __future__ import annotations

from dataclasses import dataclass

from .style import FONT_SIZE

__all__ = ["PanelLayout", "row_layout"]

_GAP = 0.04  # inches between panels
_MARGIN = 0.02  # inches around everything


@dataclass(frozen=True)
class PanelLayout:
    """A row of `panels` image panels. All lengths in inches; `axes_rects` are figure
    fractions (left, bottom, width, height), one per panel."""

    width: float
    height: float
    axes_rects: tuple[tuple[float, float, float, float], ...]
    title_band: float
    legend_band: float


def row_layout(panels: int, image_size: tuple[int, int], width: float, titles: bool,
               legend: bool) -> PanelLayout:
    """Lay out `panels` panels of an (H, W) image side by side across `width` inches."""
    line = FONT_SIZE * 1.5 / 72.0
    title_band = line if titles else 0.0
    legend_band = line * 1.2 if legend else 0.0
    panel_w = (width - 2 * _MARGIN - (panels - 1) * _GAP) / panels
    panel_h = panel_w * image_size[0] / image_size[1]
    height = 2 * _MARGIN + title_band + panel_h + legend_band
    rects = tuple(
        ((_MARGIN + i * (panel_w + _GAP)) / width, (_MARGIN + legend_band) / height,
         panel_w / width, panel_h / height)
        for i in range(panels))
    return PanelLayout(width, height, rects, title_band, legend_band)
