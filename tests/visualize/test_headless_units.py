"""--auto for networks without a detection head: widest, tightest, typical, spread; away from
the border and from each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.errors import UnitError
from deformviz.geometry import DeformLayerGeometry, FeatureToImage
from deformviz.visualize.headless_units import headless_units, sampling_spread

MAPPING = FeatureToImage(32, origin=0)


def _spread() -> np.ndarray:
    spread = np.full((24, 32), 2.0)
    spread[0, 0] = 50.0   # on the border: never picked
    spread[10, 20] = 9.0  # widest inside
    spread[11, 21] = 8.0  # next to it: too close to be the typical one
    spread[5, 5] = 0.5    # tightest
    return spread


def test_the_rule_picks_widest_tightest_typical_in_order_of_spread() -> None:
    units = headless_units(3, _spread(), MAPPING)
    assert [(u.role, u.cell) for u in units][:1] == [("tightest sampling", (5, 5))]
    assert [u.role for u in units] == ["tightest sampling", "typical sampling", "widest sampling"]
    assert units[2].cell == (10, 20)
    typical = units[1].cell
    assert _spread()[typical] == 2.0
    cells = np.array([u.cell for u in units])
    gaps = np.linalg.norm(cells[:, None] - cells[None], axis=-1)[np.triu_indices(3, 1)]
    assert gaps.min() >= 24 / 4  # apart from each other
    assert all(3 <= y < 21 and 3 <= x < 29 for y, x in cells)  # away from the border
    assert units[2].pixel == (20 * 32.0, 10 * 32.0)


def test_more_units_spread_out_and_stay_distinct() -> None:
    units = headless_units(6, _spread(), MAPPING)
    assert len({u.cell for u in units}) == 6
    assert sum(u.role == "spread" for u in units) == 3
    assert headless_units(1, _spread(), MAPPING)[0].role == "widest sampling"
    with pytest.raises(UnitError):
        headless_units(0, _spread(), MAPPING)


def test_small_maps_still_give_distinct_units() -> None:
    units = headless_units(4, np.arange(6.0).reshape(2, 3), MAPPING)
    assert len({u.cell for u in units}) == 4


def test_sampling_spread_is_effective_dilation_in_pixels() -> None:
    layer = DeformLayerGeometry.paper_res5(offset_groups=2)
    offset = torch.zeros(36, 4, 5)
    spread = sampling_spread(offset, layer, (16.0, 16.0))
    np.testing.assert_allclose(spread, 32.0)  # rigid dilation 2 at stride 16
    offset[18 + 2 * 2 + 1, 1, 1] = 4.0  # group 1, tap 2 moves right by 4 cells
    np.testing.assert_allclose(sampling_spread(offset, layer, (16.0, 16.0)), 32.0)
    changed = sampling_spread(offset, layer, (16.0, 16.0), offset_group=1)
    assert changed[1, 1] > 32.0 and (np.delete(changed.ravel(), 6) == 32.0).all()


def test_auto_roles_follow_the_group_the_figure_draws() -> None:
    """Group 0 spreads at (1, 1), group 1 at (3, 3): the widest unit is group 0's."""
    layer = DeformLayerGeometry.paper_res5(offset_groups=2)
    offset = torch.zeros(36, 5, 5)
    offset[2 * 2 + 1, 1, 1] = 2.0
    offset[18 + 2 * 2 + 1, 3, 3] = 4.0
    units = headless_units(1, sampling_spread(offset, layer, (16.0, 16.0)), MAPPING)
    assert units[0].cell == (1, 1) and units[0].role == "widest sampling"
