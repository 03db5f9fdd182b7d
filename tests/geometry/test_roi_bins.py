"""deformed_roi_bins: tiling, hand-computed shifts, pixel round trip, and the pooling operator."""

from __future__ import annotations

import pytest
import torch

from deformviz.geometry import FeatureToImage, deformed_roi_bins
from deformviz.ops import deform_roi_pool


def test_zero_offsets_tile_the_box_exactly() -> None:
    box = torch.tensor([37.0, 21.0, 201.0, 150.0], dtype=torch.float64)
    bins = deformed_roi_bins(box, 1 / 16, torch.zeros(2, 3, 3, dtype=torch.float64))
    pixels = bins.regular_pixels
    assert pixels.shape == (3, 3, 4)
    torch.testing.assert_close(bins.deformed_pixels, pixels)
    torch.testing.assert_close(pixels[0, 0, :2], box[:2])  # top-left corner
    torch.testing.assert_close(pixels[-1, -1, 2:], box[2:])  # bottom-right corner
    torch.testing.assert_close(pixels[:, 1:, 0], pixels[:, :-1, 2])  # neighbours share edges
    torch.testing.assert_close(pixels[1:, :, 1], pixels[:-1, :, 3])
    widths = pixels[..., 2] - pixels[..., 0]
    heights = pixels[..., 3] - pixels[..., 1]
    torch.testing.assert_close(widths, torch.full((3, 3), 164 / 3, dtype=torch.float64))
    torch.testing.assert_close(heights, torch.full((3, 3), 129 / 3, dtype=torch.float64))


def test_cells_follow_the_aligned_convention() -> None:
    bins = deformed_roi_bins(torch.tensor([16.0, 32.0, 64.0, 128.0]), 1 / 16, output_size=(2, 3))
    # x1' = 1 - 0.5, roi_w' = 3, bin_w = 1; y1' = 2 - 0.5, roi_h' = 6, bin_h = 3.
    assert bins.regular_cells.shape == (2, 3, 4)
    assert bins.regular_cells[0, 0].tolist() == [0.5, 1.5, 1.5, 4.5]
    assert bins.regular_cells[1, 2].tolist() == [2.5, 4.5, 3.5, 7.5]


def test_known_offset_shifts_one_bin() -> None:
    box = torch.tensor([10.0, 20.0, 110.0, 70.0])  # w = 100, h = 50 pixels
    offset = torch.zeros(2, 3, 3)
    offset[0, 1, 2], offset[1, 1, 2] = 0.5, -0.4  # bin row 1, column 2
    bins = deformed_roi_bins(box, 1 / 8, offset, gamma=0.1)
    shift = bins.deformed_pixels - bins.regular_pixels
    expected = torch.zeros(3, 3, 4)
    expected[1, 2] = torch.tensor([0.1 * 100 * 0.5, 0.1 * 50 * -0.4] * 2)  # 5 px right, 2 px up
    torch.testing.assert_close(shift, expected)
    torch.testing.assert_close(bins.deformed_cells - bins.regular_cells, expected / 8)


def test_batched_boxes_and_resize_to_original() -> None:
    boxes = torch.tensor([[0.0, 0.0, 48.0, 48.0], [16.0, 16.0, 80.0, 144.0]])
    offsets = torch.randn(2, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    bins = deformed_roi_bins(boxes, 1 / 16, offsets)
    assert bins.deformed_pixels.shape == (2, 3, 3, 4)
    single = deformed_roi_bins(boxes[1], 1 / 16, offsets[1])
    torch.testing.assert_close(bins.deformed_pixels[1], single.deformed_pixels)
    # The same bins in a 2x larger original image: continuous coordinates just scale.
    regular, deformed = bins.to_image(FeatureToImage(16, resize=2.0))
    torch.testing.assert_close(regular, bins.regular_pixels * 2)
    torch.testing.assert_close(deformed, bins.deformed_pixels * 2)
    with pytest.raises(ValueError, match="spatial_scale"):
        bins.to_image(FeatureToImage(8))


def test_bin_centres_match_the_pooling_operator() -> None:
    # Pooling the coordinate planes (x, y) averages sample positions, which are centred in each
    # (deformed) bin: the pooled value is the bin's centre, in feature cells.
    size = 20
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                          torch.arange(size, dtype=torch.float64), indexing="ij")
    features = torch.stack([x, y])[None]
    boxes = torch.tensor([[40.0, 56.0, 200.0, 230.0], [100.0, 60.0, 180.0, 260.0]],
                         dtype=torch.float64)
    offsets = (torch.rand(2, 2, 3, 3, generator=torch.Generator().manual_seed(1),
                          dtype=torch.float64) - 0.5)
    rois = torch.cat([torch.zeros(2, 1, dtype=torch.float64), boxes], dim=1)
    pooled = deform_roi_pool(features, rois, offsets, output_size=3, spatial_scale=1 / 16,
                             sampling_ratio=2, gamma=0.1)  # [2, 2 (x, y), 3, 3]
    cells = deformed_roi_bins(boxes, 1 / 16, offsets).deformed_cells
    centres = torch.stack([cells[..., 0] + cells[..., 2], cells[..., 1] + cells[..., 3]], 1) / 2
    torch.testing.assert_close(pooled, centres)


def test_input_errors() -> None:
    box = torch.tensor([0.0, 0.0, 10.0, 10.0])
    with pytest.raises(ValueError, match="output_size"):
        deformed_roi_bins(box, 1 / 16)
    with pytest.raises(ValueError, match="does not match"):
        deformed_roi_bins(box, 1 / 16, torch.zeros(2, 3, 3), output_size=7)
    with pytest.raises(ValueError, match=r"\[\.\.\., 2, ph, pw\]"):
        deformed_roi_bins(box, 1 / 16, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="boxes"):
        deformed_roi_bins(box[:3], 1 / 16, output_size=3)
