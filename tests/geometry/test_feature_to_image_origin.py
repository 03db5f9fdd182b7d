"""FeatureToImage with a grid origin (the TF-'SAME' trunk: cell 0 on pixel 15) and a resize."""

from __future__ import annotations

import pytest
import torch

from deformviz.geometry import FeatureToImage, MapGrid, deformed_roi_bins


def test_default_origin_is_the_usual_convention() -> None:
    assert FeatureToImage(16).origin == (7.5, 7.5)
    assert FeatureToImage(16) == FeatureToImage(16, origin=7.5)
    assert FeatureToImage(16).shift == (0.0, 0.0)


def test_grid_origin_maps_cells_to_16_cell_plus_15() -> None:
    grid = MapGrid(16, 15.0)
    mapping = FeatureToImage.from_grid(grid)
    cells = torch.tensor([[0.0, 0.0], [3.0, 5.0], [2.5, -1.0]], dtype=torch.float64)
    expected = grid.to_pixels(cells)
    assert torch.equal(mapping.to_image(cells), expected)
    assert torch.equal(mapping.to_feature(expected), cells)


def test_grid_origin_with_resize() -> None:
    # 451 x 300 image resized to 512 x 336 for the model.
    mapping = FeatureToImage.from_grid(MapGrid(16, 15.0), (336, 512), (300, 451))
    cell = torch.tensor([2.0, 4.0], dtype=torch.float64)
    q = cell * 16 + 15
    expected = (q + 0.5) * torch.tensor([300 / 336, 451 / 512], dtype=torch.float64) - 0.5
    torch.testing.assert_close(mapping.to_image(cell), expected)
    torch.testing.assert_close(mapping.to_feature(expected), cell)
    with pytest.raises(ValueError):
        FeatureToImage.from_grid(MapGrid(16, 15.0), (336, 512))


def test_roi_bins_round_trip_through_the_pooling_shift() -> None:
    grid = MapGrid(16, 15.0)
    mapping = FeatureToImage.from_grid(grid, (336, 512), (300, 451))
    box = torch.tensor([40.0, 60.0, 300.0, 280.0], dtype=torch.float64)  # original pixels
    resize = torch.tensor([451 / 512, 300 / 336] * 2, dtype=torch.float64)
    pool_box = grid.boxes_for_roi_pool(box / resize)  # what the operator receives
    bins = deformed_roi_bins(pool_box, 1 / 16, output_size=3)
    regular, _ = bins.to_image(mapping)
    torch.testing.assert_close(regular[0, 0, :2], box[:2])
    torch.testing.assert_close(regular[2, 2, 2:], box[2:])
    torch.testing.assert_close(mapping.boxes_to_image(mapping.boxes_to_feature(box)), box)
