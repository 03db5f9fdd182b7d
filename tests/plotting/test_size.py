"""parse_width: lengths with units and venue presets, in inches."""

from __future__ import annotations

import pytest

from deformviz.errors import InputError
from deformviz.plotting.size import parse_width


@pytest.mark.parametrize("text,inches", [
    ("3.25in", 3.25), ("85mm", 85 / 25.4), ("8.5cm", 8.5 / 2.54), ("108.405pt", 1.5),
    ("cvpr", 237.13594 / 72.27), ("cvpr-column", 237.13594 / 72.27), ("iccv-text", 6.875),
    ("neurips-text", 5.5), ("icml", 3.25), ("icml-text", 6.75), ("ieee-column", 252 / 72.27),
    ("CVPR-TEXT", 6.875), (" 2in ", 2.0),
])
def test_widths(text: str, inches: float) -> None:
    assert parse_width(text) == pytest.approx(inches)


@pytest.mark.parametrize("text,message", [
    ("3", "needs a unit"), ("3ft", "unknown unit"), ("wide", "expected a length"),
    ("0.1in", "smallest usable width is 1.04in"), ("1mm", "too narrow"),
    ("100in", "larger than 40in"), ("-3in", "expected a length"),
])
def test_bad_widths(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_width(text)


def test_as_width_takes_numbers_and_strings() -> None:
    from deformviz.plotting.size import as_width

    assert as_width(3.25) == 3.25 and as_width(2) == 2.0
    assert as_width("cvpr-text") == 6.875
    for bad, message in ((0.5, "smallest usable width"), (float("nan"), "not a number"),
                         (True, "expected inches"), (None, "expected inches")):
        with pytest.raises(InputError, match=message):
            as_width(bad)
