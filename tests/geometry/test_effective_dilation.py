"""filter_effective_dilation / layer_effective_dilation: rigid and scaled grids, a hand case."""

from __future__ import annotations

import math

import pytest
import torch

from deformviz.geometry import (DeformLayerGeometry, filter_effective_dilation,
                                layer_effective_dilation)


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_rigid_grid_scores_its_dilation(dilation: int) -> None:
    grid = DeformLayerGeometry(3, dilation=dilation).kernel_grid(torch.float64)
    assert filter_effective_dilation(grid).item() == dilation
    shifted = grid + torch.tensor([3.7, -1.2], dtype=torch.float64)
    assert filter_effective_dilation(shifted).item() == pytest.approx(dilation)


def test_scaled_grid_scores_scale_times_dilation() -> None:
    grid = DeformLayerGeometry(3, dilation=2).kernel_grid(torch.float64)
    scales = torch.tensor([0.5, 1.0, 2.5, 4.0], dtype=torch.float64)
    centred = grid - grid.mean(0)
    batch = centred * scales[:, None, None] + torch.tensor([10.0, 20.0], dtype=torch.float64)
    torch.testing.assert_close(filter_effective_dilation(batch), scales * 2)


def test_hand_computed_filter() -> None:
    grid = DeformLayerGeometry(3).kernel_grid(torch.float64)
    grid[4] = torch.tensor([1.0, 2.0])  # centre tap moved one cell right
    # Pairs with the centre: left 2, right 0, up sqrt(2), down sqrt(2); the other 8 pairs 1.
    expected = (8 + 2 + 0 + 2 * math.sqrt(2)) / 12
    assert filter_effective_dilation(grid).item() == pytest.approx(expected)


def test_anisotropic_dilation_and_other_kernels() -> None:
    grid = DeformLayerGeometry(3, dilation=(2, 4)).kernel_grid()
    assert filter_effective_dilation(grid).item() == 3.0  # 6 vertical pairs of 2, 6 horizontal of 4
    grid = DeformLayerGeometry((2, 3), dilation=1).kernel_grid()
    assert filter_effective_dilation(grid, (2, 3)).item() == 1.0
    with pytest.raises(ValueError):
        filter_effective_dilation(grid)  # 6 points are not a 3x3 filter


def test_layer_zero_offsets_give_dilation_everywhere() -> None:
    layer = DeformLayerGeometry.paper_res5()
    result = layer_effective_dilation(torch.zeros(18, 5, 7), layer)
    assert result.shape == (5, 7) and bool(result.eq(2).all())
    batched = layer_effective_dilation(torch.zeros(3, 18, 5, 7), layer)
    assert batched.shape == (3, 5, 7)


def test_layer_offsets_that_scale_the_grid() -> None:
    layer = DeformLayerGeometry.paper_res5(offset_groups=2)
    centred = layer.kernel_grid(torch.float64) - 2  # pn in {-2, 0, 2}^2
    scale = torch.tensor([[1.0, 3.0], [0.5, 2.0]], dtype=torch.float64)  # per unit, [H=2, W=2]
    group0 = (scale[None, None] - 1) * centred[:, :, None, None]  # dpn = (s - 1) pn: [9, 2, 2, 2]
    group1 = torch.zeros_like(group0) + 0.25  # a pure shift: dilation stays 2
    offset = torch.cat([group0.reshape(18, 2, 2), group1.reshape(18, 2, 2)])
    torch.testing.assert_close(layer_effective_dilation(offset, layer), 2 * scale)
    torch.testing.assert_close(layer_effective_dilation(offset, layer, offset_group=1),
                               torch.full((2, 2), 2.0, dtype=torch.float64))
    torch.testing.assert_close(layer_effective_dilation(offset, layer, offset_group=None),
                               (2 * scale + 2) / 2)
    with pytest.raises(ValueError):
        layer_effective_dilation(offset, layer, offset_group=2)
