"""The rules of `auto_units`: distinct units, away from the border, roles from detections,
and the score threshold deciding what counts as an object."""

from __future__ import annotations

import itertools

import pytest
import torch

from deformviz.geometry import FeatureToImage
from deformviz.visualize.results import Detection
from deformviz.visualize.units import auto_units, border_margin, min_separation

MAPPING = FeatureToImage(16)
SIZE = (20, 30)  # cells: a 320 x 480 input


def _heat(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((2, *SIZE), generator=generator) * 0.02


def _apart(units) -> int:
    return min((max(abs(a.cell[0] - b.cell[0]), abs(a.cell[1] - b.cell[1]))
                for a, b in itertools.combinations(units, 2)), default=99)


@pytest.mark.parametrize("count", [1, 3, 6, 12])
def test_without_detections_units_are_apart_and_off_the_border(count: int) -> None:
    units = auto_units(count, (), _heat(), MAPPING)
    margin = border_margin(SIZE)
    assert len(units) == count and len({u.cell for u in units}) == count
    assert all(margin <= u.cell[0] < SIZE[0] - margin and margin <= u.cell[1] < SIZE[1] - margin
               for u in units)
    assert _apart(units) >= min_separation(SIZE)
    assert {u.role for u in units} == {"background"}


def test_objects_at_the_border_and_close_together() -> None:
    # A small object in the corner and two large ones 1 cell apart.
    detections = (
        Detection((0.0, 0.0, 20.0, 20.0), "digit", 0.9),
        Detection((200.0, 100.0, 300.0, 200.0), "star", 0.8),
        Detection((210.0, 100.0, 310.0, 200.0), "star", 0.7),
    )
    units = auto_units(4, detections, _heat(), MAPPING)
    roles = [u.role for u in units]
    # The second star is 1 cell from the first: a second background unit instead.
    assert roles == ["background", "background", "small object", "large object"]
    margin = border_margin(SIZE)
    small = units[2]
    assert small.cell == (margin, margin) and small.detection.label == "digit"
    assert _apart(units) >= min_separation(SIZE)


def test_rules_relax_only_when_the_map_is_too_small() -> None:
    units = auto_units(12, (), torch.zeros((1, 6, 6)), MAPPING)
    assert len({u.cell for u in units}) == 12  # a 6 x 6 map cannot keep 3 cells apart


def test_threshold_decides_what_is_an_object(test_model, samples) -> None:
    from deformviz.visualize import sample_locations

    strict = sample_locations(test_model, samples / "coffee.jpg", auto=3, long_side=256,
                              score_threshold=1.0)
    assert {s.unit.role for s in strict.samplings} == {"background"}
    loose = sample_locations(test_model, samples / "coffee.jpg", auto=3, long_side=256,
                             score_threshold=0.0)
    assert {s.unit.role for s in loose.samplings} != {"background"}
