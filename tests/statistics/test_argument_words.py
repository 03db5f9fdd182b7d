"""The statistics library speaks of its arguments, not of the command line's options."""

from __future__ import annotations

import pytest

from deformviz.errors import InputError
from deformviz.statistics.run import parse_shard
from deformviz.statistics.size_classes import SizeThresholds


@pytest.mark.parametrize("text, message", [("3/2", "shard '3/2': need 1 <= i <= n"),
                                           ("two", "shard 'two': expected i/n")])
def test_parse_shard_names_the_argument(text, message):
    with pytest.raises(InputError) as caught:
        parse_shard(text)
    assert str(caught.value).startswith(message) and "--" not in str(caught.value)
    assert parse_shard("2/8") == (2, 8)


def test_thresholds_name_the_argument():
    with pytest.raises(InputError) as caught:
        SizeThresholds.parse("20,10")
    assert str(caught.value) == "thresholds '20,10': need 0 <= small side <= large side"
