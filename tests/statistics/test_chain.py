"""Tracing all units at once agrees with the one-unit tracer; grids carry positions."""

from __future__ import annotations

import torch

from deformviz.geometry import (ChainLayer, DeformLayerGeometry, MapGrid, trace_chain,
                                trace_sampling_locations)
from deformviz.statistics.chain import trace_deepest_points, unit_centres


def _chain(size=(6, 7), seed=0, grid=MapGrid(16.0, 15.0)):
    generator = torch.Generator().manual_seed(seed)
    geometry = DeformLayerGeometry.paper_res5()
    return [ChainLayer(geometry, torch.randn(18, *size, generator=generator) * 1.5, None, size, grid, grid)
            for _ in range(3)]


def test_all_units_match_the_one_unit_tracer():
    chain = _chain()
    units = torch.tensor([[0, 0], [2, 3], [5, 6], [3, 0]])
    points = trace_deepest_points(chain, units, chunk=3)
    assert points.shape == (4, 729, 2)
    for unit, traced in zip(units.tolist(), points):
        reference = trace_sampling_locations([c.geometry for c in chain], [c.offset for c in chain],
                                             tuple(unit))
        assert torch.allclose(traced, reference.points[-1] * 16 + 15, atol=1e-4)


def test_rigid_trace_is_the_regular_grid():
    chain = _chain()
    points = trace_deepest_points(chain, torch.tensor([[3, 3]]), levels=1, rigid=True)
    # Unit (3, 3): taps at cells 3 + {-2, 0, 2}, pixels 16 * cell + 15.
    expected = torch.tensor([[16.0 * (3 + dy) + 15, 16.0 * (3 + dx) + 15]
                             for dy in (-2, 0, 2) for dx in (-2, 0, 2)])
    assert torch.equal(points[0], expected)


def test_positions_are_carried_through_different_grids():
    # Lower layer at stride 8 (origin 3.5), upper at stride 16 (origin 7.5): a 2x subsampling
    # between them. Upper input cell p sits on pixel 16p + 7.5, lower output cell 2p + 0.5.
    lower_grid, upper_grid = MapGrid(8.0, 3.5), MapGrid(16.0, 7.5)
    geometry = DeformLayerGeometry((3, 3), 1, 1, 1)
    lower = ChainLayer(geometry, torch.zeros(18, 8, 8), None, (8, 8), lower_grid, lower_grid)
    upper = ChainLayer(geometry, torch.zeros(18, 4, 4), None, (4, 4), upper_grid, upper_grid)
    points = trace_deepest_points([lower, upper], torch.tensor([[2, 2]]), rigid=True)
    # Upper taps at cells 1..3 -> lower cells 2.5, 4.5, 6.5, each sampling +-1 around them:
    # pixels 16p + 8d + 7.5 for d in -1..1, i.e. 8c + 7.5 for c = 1..7.
    ys = sorted(set(points[0, :, 0].tolist()))
    assert ys == [8.0 * c + 7.5 for c in range(1, 8)]


def test_all_units_match_trace_chain_across_a_stride_change():
    # A stride-2 bottom layer (stride 8 -> 16 maps), then two layers at stride 16.
    generator = torch.Generator().manual_seed(3)
    bottom = ChainLayer(DeformLayerGeometry((3, 3), 2, 1, 1), torch.randn(18, 5, 6, generator=generator),
                        None, (10, 12), MapGrid(8.0), MapGrid(16.0))
    rest = [ChainLayer(DeformLayerGeometry.paper_res5(), torch.randn(18, 5, 6, generator=generator) * 2,
                       None, (5, 6), MapGrid(16.0), MapGrid(16.0)) for _ in range(2)]
    chain = [bottom, *rest]
    units = torch.tensor([[0, 0], [4, 5], [2, 3]])
    points = trace_deepest_points(chain, units)
    for unit, traced in zip(units.tolist(), points):
        reference = trace_chain(chain, tuple(unit))
        expected = MapGrid(8.0).to_pixels(reference.points[-1])
        assert torch.allclose(traced, expected, atol=1e-4)


def test_unit_centres_map_back_through_the_resize():
    layer = _chain(size=(2, 3))[0]
    centres = unit_centres(layer, resize=(2.0, 0.5))
    # Cell (1, 2): model-input pixel (31, 47) -> original ((31.5 * 2) - 0.5, (47.5 * 0.5) - 0.5).
    assert centres[5].tolist() == [62.5, 23.25]
