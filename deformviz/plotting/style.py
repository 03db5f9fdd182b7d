"""The look of deformviz figures: Okabe-Ito colours, sizes in points, paper-ready rcParams.

Colours come from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies). Following the paper's figures: the unit is green, the deepest level of
sampling points small red (vermillion) squares, boxes yellow, deformed bins red.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["OKABE_ITO", "PointStyle", "LEVEL_STYLES", "UNIT_STYLE", "BOX_COLOR", "BIN_COLOR",
           "REGULAR_BIN_COLOR", "FONT_SIZE", "paper_style"]

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}


@dataclass(frozen=True)
class PointStyle:
    """Marker of one kind of point: colour, marker, size (points), edge colour and width."""

    color: str
    marker: str
    size: float
    edge: str = "none"
    edge_width: float = 0.0


# Level l = sampling points of the l-th layer down from the unit (1: the top layer's 9 taps).
# Deeper levels are smaller, so the 729 points do not hide the 9 and 81 above them; blues
# against vermillion stay apart for every common colour-vision deficiency (orange did not on
# warm photos).
LEVEL_STYLES = {
    1: PointStyle(OKABE_ITO["blue"], "s", 3.6, "white", 0.4),
    2: PointStyle(OKABE_ITO["sky_blue"], "s", 2.4, "none", 0.0),
    3: PointStyle(OKABE_ITO["vermillion"], "s", 1.5, "none", 0.0),
}
UNIT_STYLE = PointStyle(OKABE_ITO["bluish_green"], "o", 5.0, "white", 0.7)
BOX_COLOR = OKABE_ITO["yellow"]
BIN_COLOR = OKABE_ITO["vermillion"]
REGULAR_BIN_COLOR = OKABE_ITO["sky_blue"]
FONT_SIZE = 7.0  # points: caption-sized text in a printed figure

RC_PARAMS = {
    # TrueType fonts embedded as Type 42 (no Type 3 bitmaps) in PDF and PostScript.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    # Bundled with matplotlib, so every machine renders (and embeds) the same glyphs.
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    # Byte-identical SVG: fixed ids instead of random ones.
    "svg.hashsalt": "deformviz",
    "svg.fonttype": "path",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "savefig.transparent": False,
    "figure.facecolor": "white",
    "path.simplify": False,  # keep every point and bin edge exactly where computed
}


@contextmanager
def paper_style() -> Iterator[None]:
    """rcParams for building and saving a figure (both steps read them)."""
    import matplotlib

    with matplotlib.rc_context(RC_PARAMS):
        yield
