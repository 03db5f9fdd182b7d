"""Physical figure widths: lengths with units, and venues' column and text widths.

Kept free of matplotlib so the command line can check `--width` before doing any work.

Preset widths are the LaTeX templates' \\columnwidth and \\textwidth (TeX points, 72.27 per
inch, converted), as measured from the style files:
- CVPR / ICCV (cvpr.sty): text 6.875in, column 3.281in (6.875in minus a 0.3125in gap, halved;
  often quoted as 3.25in).
- ICML (icml20xx.sty): text 6.75in, column 3.25in.
- NeurIPS, ICLR: single column, text 5.5in.
- IEEE (IEEEtran, two-column): column 252pt (3.487in), text 516pt (7.14in).
- ECCV (Springer LNCS): single column, text 12.2cm.
"""

from __future__ import annotations

import re

from deformviz.errors import InputError

__all__ = ["VENUE_WIDTHS", "MIN_PANEL_WIDTH", "MIN_FIGURE_WIDTH", "PANEL_GAP", "FIGURE_MARGIN",
           "parse_width", "as_width", "describe_presets"]

_POINTS_PER_INCH = 72.27  # TeX points
_UNITS = {"in": 1.0, "inch": 1.0, "mm": 1 / 25.4, "cm": 1 / 2.54, "pt": 1 / _POINTS_PER_INCH}

# name -> (column width, text width) in inches; equal for single-column venues.
VENUE_WIDTHS: dict[str, tuple[float, float]] = {
    "cvpr": (237.13594 / _POINTS_PER_INCH, 6.875),
    "iccv": (237.13594 / _POINTS_PER_INCH, 6.875),
    "icml": (3.25, 6.75),
    "neurips": (5.5, 5.5),
    "iclr": (5.5, 5.5),
    "ieee": (252 / _POINTS_PER_INCH, 516 / _POINTS_PER_INCH),
    "eccv": (12.2 / 2.54, 12.2 / 2.54),
}
_MAX_INCHES = 40.0
# Narrower image panels cannot show 729 points, a title and the unit apart from each other
# at print size; wider figures wrap panels into rows instead of shrinking them below this.
MIN_PANEL_WIDTH = 1.0  # inches
PANEL_GAP = 0.04  # inches between panels
FIGURE_MARGIN = 0.02  # inches around everything
MIN_FIGURE_WIDTH = MIN_PANEL_WIDTH + 2 * FIGURE_MARGIN


def describe_presets() -> str:
    """One line listing the presets, for help texts."""
    return ", ".join(f"{name}[-column|-text]" for name in VENUE_WIDTHS)


def parse_width(text: str) -> float:
    """A width in inches from "3.25in", "85mm", "8.5cm", "240pt" or a preset.

    Presets: NAME-column, NAME-text, or NAME alone for the column width, NAME one of
    cvpr, iccv, icml, neurips, iclr, ieee, eccv.

    Raises:
        InputError: no unit, unknown unit or preset, or outside MIN_FIGURE_WIDTH..40in.

    Example:
        >>> parse_width("cvpr-text"), round(parse_width("85mm"), 3)
        (6.875, 3.346)
    """
    value = text.strip().lower()
    venue, _, part = value.partition("-")
    if venue in VENUE_WIDTHS and part in ("", "column", "col", "text"):
        column, full = VENUE_WIDTHS[venue]
        return full if part == "text" else column
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([a-z]+)?", value)
    if match is None:
        raise InputError(f"width {text!r}: expected a length such as 3.25in, 85mm, 8.5cm or "
                         f"a preset ({describe_presets()})")
    number, unit = float(match.group(1)), match.group(2)
    if unit is None:
        raise InputError(f"width {text!r} needs a unit: in, mm, cm or pt")
    if unit not in _UNITS:
        raise InputError(f"width {text!r}: unknown unit {unit!r}; use in, mm, cm or pt")
    return _check_range(number * _UNITS[unit], repr(text))


def _check_range(inches: float, shown: str) -> float:
    if not inches <= _MAX_INCHES:
        raise InputError(f"width {shown} is larger than {_MAX_INCHES:g}in")
    if not inches >= MIN_FIGURE_WIDTH - 1e-9:
        raise InputError(f"width {shown} is too narrow to draw legibly; the smallest usable "
                         f"width is {MIN_FIGURE_WIDTH:.2f}in ({MIN_FIGURE_WIDTH * 25.4:.0f}mm)")
    return inches


def as_width(width: float | int | str) -> float:
    """A figure width in inches from a number of inches or a string `parse_width` reads.

    Raises:
        InputError: not a width, or outside MIN_FIGURE_WIDTH..40 inches.
    """
    if isinstance(width, str):
        return parse_width(width)
    if isinstance(width, bool) or not isinstance(width, (int, float)):
        raise InputError(f"width={width!r}: expected inches (a number) or a string such as "
                         f"'3.25in', '85mm' or 'cvpr-column'")
    if width != width:  # NaN
        raise InputError("width=nan is not a number of inches")
    return _check_range(float(width), f"{width:g}in")
