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
    # The second star's centre is 1 cell from the first's: its unit goes to another cell of
    # its box, kept apart, rather than a second background unit.
    assert roles == ["background", "small object", "medium object", "large object"]
    second = units[2]
    assert second.detection is detections[1]
    x, y = second.pixel[0] + 0.5, second.pixel[1] + 0.5
    assert 200 <= x <= 300 and 100 <= y <= 200
    margin = border_margin(SIZE)
    small = units[1]
    assert small.cell == (margin, margin) and small.detection.label == "digit"
    assert _apart(units) >= min_separation(SIZE)


def test_rules_relax_only_when_the_map_is_too_small() -> None:
    units = auto_units(12, (), torch.zeros((1, 6, 6)), MAPPING)
    assert len({u.cell for u in units}) == 12  # a 6 x 6 map cannot keep 3 cells apart


def test_threshold_decides_what_is_an_object(test_model, samples) -> None:
    from deformviz.visualize import sample_locations

    strict = sample_locations(test_model, samples / "coffee.jpg", auto=3, long_side=256,
                              score_threshold=1.0)
    assert all(s.unit.detection is None for s in strict.samplings)
    assert strict.samplings[0].unit.role == "background"
    loose = sample_locations(test_model, samples / "coffee.jpg", auto=3, long_side=256,
                             score_threshold=0.0)
    assert any(s.unit.detection is not None for s in loose.samplings)


def test_more_units_go_onto_the_objects_before_more_background() -> None:
    """Two detected objects, 8 units: beyond the triplet's background unit, every unit sits
    on an object (the boxes are large enough to hold them apart)."""
    detections = (Detection((16.0, 16.0, 240.0, 300.0), "square", 0.9),
                  Detection((260.0, 40.0, 460.0, 280.0), "ellipse", 0.8))
    units = auto_units(8, detections, _heat(), MAPPING)
    assert len(units) == 8 and len({u.cell for u in units}) == 8
    assert [u.role for u in units].count("background") == 1
    assert {u.detection.label for u in units if u.detection} == {"square", "ellipse"}
    assert _apart(units) >= min_separation(SIZE)


def test_without_detections_the_spread_decides_the_units() -> None:
    import numpy as np

    spread = np.ones(SIZE)
    spread[10, 20] = 4.0  # one unit samples far wider than the rest
    units = auto_units(4, (), _heat(), MAPPING, spread)
    roles = [u.role for u in units]
    assert roles[0] == "background" and "widest sampling" in roles
    assert next(u for u in units if u.role == "widest sampling").cell == (10, 20)


def test_images_smaller_than_three_cells_are_refused_with_the_smallest_size(test_model) -> None:
    import numpy as np

    from deformviz.errors import InputError
    from deformviz.visualize import sample_locations

    for pixels in (np.zeros((1, 1, 3), np.uint8), np.zeros((47, 200, 3), np.uint8)):
        with pytest.raises(InputError, match="the smallest image that works is 48x48 pixels"):
            sample_locations(test_model, pixels, long_side=64)
    result = sample_locations(test_model, np.zeros((48, 48, 3), np.uint8), long_side=64, auto=1)
    assert len(result.samplings) == 1
