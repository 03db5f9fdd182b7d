"""parse_width: lengths with units and venue presets, in inches."""

from __future__ import annotations

import pytest

from deformviz.errors import InputError
from deformviz.plotting.size import parse_width


@pytest.mark.parametrize("text,inches", [
    ("3.25in", 3.25), ("85mm", 85 / 25.4), ("8.5cm", 8.5 / 2.54), ("72.27pt", 1.0),
    ("cvpr", 237.13594 / 72.27), ("cvpr-column", 237.13594 / 72.27), ("iccv-text", 6.875),
    ("neurips-text", 5.5), ("icml", 3.25), ("icml-text", 6.75), ("ieee-column", 252 / 72.27),
    ("CVPR-TEXT", 6.875), (" 2in ", 2.0),
])
def test_widths(text: str, inches: float) -> None:
    assert parse_width(text) == pytest.approx(inches)


@pytest.mark.parametrize("text,message", [
    ("3", "needs a unit"), ("3ft", "unknown unit"), ("wide", "expected a length"),
    ("0.1in", "between"), ("100in", "between"), ("-3in", "expected a length"),
])
def test_bad_widths(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_width(text)
