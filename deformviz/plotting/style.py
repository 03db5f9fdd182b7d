"""The look of deformviz figures: Okabe-Ito colours, marker rules, paper-ready rcParams.

Colours come from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies). Following the paper's figures: the unit is green, the deepest level of
sampling points small red (vermillion) squares, boxes yellow, deformed bins red.

Every marker carries a thin edge in the colour that contrasts most with its fill (white
around dark fills, black around light ones), so a point stays visible on any background,
orange on an orange photo included. Sizes are not fixed here: `deformviz.plotting.scale`
computes them from the panel's physical size and the number of points.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["OKABE_ITO", "PointStyle", "level_colors", "contrast_edge", "UNIT_COLOR",
           "BOX_COLOR", "BIN_COLOR", "REGULAR_BIN_COLOR", "FONT_SIZE", "MIN_FONT_SIZE",
           "MAX_LEVELS", "paper_style"]

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}

# Level colours from the top layer down; the deepest level is always vermillion, the one
# above it sky blue, then blue (the paper's 3-level look), and further up purple, orange and
# yellow for the deeper chains of users' networks.
_TOP_TO_DEEPEST = ("yellow", "orange", "reddish_purple", "blue", "sky_blue", "vermillion")
MAX_LEVELS = len(_TOP_TO_DEEPEST)
UNIT_COLOR = OKABE_ITO["bluish_green"]
BOX_COLOR = OKABE_ITO["yellow"]
BIN_COLOR = OKABE_ITO["vermillion"]
REGULAR_BIN_COLOR = OKABE_ITO["sky_blue"]
FONT_SIZE = 7.0  # points: caption-sized text in a printed figure
MIN_FONT_SIZE = 5.0  # below this, printed text is unreadable


@dataclass(frozen=True)
class PointStyle:
    """Marker of one kind of point: colour, marker, size (points), edge colour and width,
    and opacity."""

    color: str
    marker: str
    size: float
    edge: str = "none"
    edge_width: float = 0.0
    alpha: float = 1.0


def _luminance(color: str) -> float:
    """Relative luminance (WCAG) of a "#RRGGBB" colour, 0 (black) .. 1 (white)."""
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_edge(color: str) -> str:
    """Black or white, whichever contrasts more with `color` (WCAG contrast ratio)."""
    lum = _luminance(color)
    return "#000000" if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else "#FFFFFF"


def level_colors(levels: int) -> tuple[str, ...]:
    """Colours of levels 1..`levels` (1 = the top layer's 9 points), deepest vermillion."""
    if not 1 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be in 1..{MAX_LEVELS}, got {levels}")
    return tuple(OKABE_ITO[name] for name in _TOP_TO_DEEPEST[-levels:])


def rc_params(svg_text: bool = True) -> dict:
    """rcParams of every deformviz figure; `svg_text` keeps SVG text as <text> (editable in
    Inkscape or Illustrator) instead of glyph outlines."""
    return {
        # TrueType fonts embedded as Type 42 (no Type 3 bitmaps) in PDF and PostScript.
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        # Bundled with matplotlib, so every machine renders (and embeds) the same glyphs.
        "font.family": "DejaVu Sans",
        "font.size": FONT_SIZE,
        # Byte-identical SVG: fixed ids instead of random ones.
        "svg.hashsalt": "deformviz",
        "svg.fonttype": "none" if svg_text else "path",
        "savefig.facecolor": "white",
        "savefig.edgecolor": "white",
        "savefig.transparent": False,
        "figure.facecolor": "white",
        "path.simplify": False,  # keep every point and bin edge exactly where computed
    }


RC_PARAMS = rc_params()


@contextmanager
def paper_style(svg_text: bool = True) -> Iterator[None]:
    """rcParams for building and saving a figure (both steps read them)."""
    import matplotlib

    with matplotlib.rc_context(rc_params(svg_text)):
        yield
