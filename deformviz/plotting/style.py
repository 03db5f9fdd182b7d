"""The look of deformviz figures: one colour per role, marker rules, paper-ready rcParams.

Colours (the one place they are decided; every figure, the explore page and the legends read
them from here). All come from the Okabe-Ito palette, plus white, so they stay apart with the
common colour-vision deficiencies:

    role                                   colour          where
    unit (the activation unit)             bluish green    sample, explore
    layer 1 of the chain (the top, res5c)  blue            sample, explore, stats, grid overview
    layer 2 (res5b)                        sky blue        "
    layer 3 (res5a)                        vermillion      "
    layer 4                                reddish purple  "
    layer 5                                orange          "
    layer 6                                white           "
    box / detection                        yellow          roi, explore
    deformed RoI bins                      black           roi, explore
    no offsets: regular RoI bins, the      dark grey       roi --show-regular, stats
    rigid filter

A layer's colour is a property of its place in the chain, counted from the top: the same at
every `--levels` and in every figure, so figures of one paper agree (the paper's 3-level look,
blue / sky blue / vermillion, is the default). Boxes and bins use colours no layer uses.
Under simulated protanopia, deuteranopia and tritanopia (Machado et al. 2009) every two roles
stay at least 15 CIELAB units apart (tests/plotting/test_figure_checks.py measures it).

Every marker carries a thin edge in the colour that contrasts most with its fill (white
around dark fills, black around light ones), so a point stays visible on any background,
orange on an orange photo included. Sizes are not fixed here: `deformviz.plotting.scale`
computes them from the panel's physical size and the number of points.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["OKABE_ITO", "PointStyle", "level_colors", "contrast_edge", "LAYER_COLORS", "UNIT_COLOR",
           "BOX_COLOR", "BIN_COLOR", "REGULAR_BIN_COLOR", "WHITE", "FONT_SIZE", "MIN_FONT_SIZE",
           "MAX_LEVELS", "paper_style"]

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}

WHITE = "#FFFFFF"
# Colours of the chain's layers from the top down (see the table above).
_CHAIN_COLORS = ("blue", "sky_blue", "vermillion", "reddish_purple", "orange", "white")
LAYER_COLORS = tuple(OKABE_ITO.get(name, WHITE) for name in _CHAIN_COLORS)
MAX_LEVELS = len(LAYER_COLORS)
UNIT_COLOR = OKABE_ITO["bluish_green"]
BOX_COLOR = OKABE_ITO["yellow"]
BIN_COLOR = OKABE_ITO["black"]
REGULAR_BIN_COLOR = "#5A5A5A"  # dark grey: what no learned offset moved (bins dashed)
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
    """Colours of levels 1..`levels` (1 = the top layer's 9 points): the first `levels` of
    `LAYER_COLORS`, so a layer keeps its colour whatever number of levels is drawn."""
    if not 1 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be in 1..{MAX_LEVELS}, got {levels}")
    return LAYER_COLORS[:levels]


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
