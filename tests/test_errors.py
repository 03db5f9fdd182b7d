"""The one check of a user's number: what it accepts and the one-line errors it raises."""

from __future__ import annotations

import pytest

from deformviz.errors import BoxError, InputError, finite_number


@pytest.mark.parametrize("value, expected", [(3, 3.0), (-2.5, -2.5), ("1e2", 100.0), (" 7 ", 7.0)])
def test_finite_number_accepts_numbers_and_their_spellings(value, expected):
    assert finite_number(value, "--at") == expected


@pytest.mark.parametrize("value, reason", [
    ("abc", "is not a number"), (None, "is not a number"), (True, "is not a number"),
    ([1], "is not a number"), ("nan", "is not a finite number"), (float("inf"), "is not a finite number"),
])
def test_finite_number_refuses_the_rest_in_one_line(value, reason):
    with pytest.raises(BoxError) as caught:
        finite_number(value, "box 1", BoxError)
    message = str(caught.value)
    assert message.startswith("box 1: ") and message.endswith(reason) and "\n" not in message
    assert isinstance(caught.value, InputError)
