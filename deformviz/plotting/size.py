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

__all__ = ["VENUE_WIDTHS", "parse_width", "describe_presets"]

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


def describe_presets() -> str:
    """One line listing the presets, for help texts."""
    return ", ".join(f"{name}[-column|-text]" for name in VENUE_WIDTHS)


def parse_width(text: str) -> float:
    """A width in inches from "3.25in", "85mm", "8.5cm", "240pt" or a preset.

    Presets: NAME-column, NAME-text, or NAME alone for the column width, NAME one of
    cvpr, iccv, icml, neurips, iclr, ieee, eccv.

    Raises:
        InputError: no unit, unknown unit or preset, or not a positive size up to 40in.
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
    inches = number * _UNITS[unit]
    if not 0.5 <= inches <= _MAX_INCHES:
        raise InputError(f"width {text!r} must be between 0.5in and {_MAX_INCHES:g}in")
    return inches
