"""DeformLayerGeometry and FeatureToImage: hand-computed positions and round trips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deformviz.geometry import DeformLayerGeometry, FeatureToImage


def test_geometry_expands_ints_and_counts_channels() -> None:
    layer = DeformLayerGeometry(3, 1, 2, 2, offset_groups=4)
    assert layer == DeformLayerGeometry.paper_res5(offset_groups=4)
    assert layer.kernel_size == (3, 3) and layer.padding == (2, 2)
    assert (layer.taps, layer.offset_channels, layer.mask_channels) == (9, 72, 36)


def test_kernel_grid_is_row_major() -> None:
    grid = DeformLayerGeometry((2, 3), dilation=(2, 5)).kernel_grid()
    assert grid.tolist() == [[0, 0], [0, 5], [0, 10], [2, 0], [2, 5], [2, 10]]


def test_regular_locations_of_paper_layer() -> None:
    # Unit (5, 7), padding 2, dilation 2: rows 3, 5, 7 and columns 5, 7, 9.
    points = DeformLayerGeometry.paper_res5().regular_locations(torch.tensor([5.0, 7.0]))
    expected = [[y, x] for y in (3.0, 5.0, 7.0) for x in (5.0, 7.0, 9.0)]
    assert points.tolist() == expected


def test_regular_locations_general_stride_padding_dilation() -> None:
    layer = DeformLayerGeometry((3, 3), stride=(2, 3), padding=(1, 0), dilation=(1, 2))
    points = layer.regular_locations(torch.tensor([[3.0, 4.0], [0.5, 0.0]]))
    assert points.shape == (2, 9, 2)
    assert points[0, 0].tolist() == [5.0, 12.0]  # (3 * 2 - 1, 4 * 3 - 0)
    assert points[0, 8].tolist() == [7.0, 16.0]
    assert points[1, 0].tolist() == [0.0, 0.0]  # a fractional position is scaled the same way


@pytest.mark.parametrize("stride,padding,dilation",
                         [(1, 2, 2), (2, 1, 1), ((2, 3), (0, 1), (3, 1))])
def test_output_size_matches_convolution(stride: int | tuple[int, int],
                                         padding: int | tuple[int, int],
                                         dilation: int | tuple[int, int]) -> None:
    layer = DeformLayerGeometry(3, stride, padding, dilation)
    out = F.conv2d(torch.zeros(1, 1, 17, 23), torch.zeros(1, 1, 3, 3), stride=stride,
                   padding=padding, dilation=dilation)
    assert layer.output_size((17, 23)) == tuple(out.shape[-2:])


def test_geometry_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        DeformLayerGeometry(3, stride=0)
    with pytest.raises(ValueError):
        DeformLayerGeometry(3, padding=-1)
    with pytest.raises(ValueError):
        DeformLayerGeometry((3, 3, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DeformLayerGeometry(offset_groups=0)
    with pytest.raises(ValueError, match=r"\[18, H, W\]"):
        DeformLayerGeometry(3).check_offset(torch.zeros(9, 4, 4))


def test_feature_to_image_half_pixel_convention() -> None:
    mapping = FeatureToImage(16)
    points = torch.tensor([[3.0, 5.0], [0.0, 0.0], [-0.5, 2.25]])
    pixels = mapping.to_image(points)
    assert pixels.tolist() == [[55.5, 87.5], [7.5, 7.5], [-0.5, 43.5]]
    torch.testing.assert_close(mapping.to_feature(pixels), points)


def test_feature_to_image_undoes_resize() -> None:
    # The model saw a 320x480 resize of a 640x1440 image: resize factors (2, 3).
    mapping = FeatureToImage.from_sizes(16, resized_size=(320, 480), original_size=(640, 1440))
    assert mapping.resize == (2.0, 3.0) and mapping.scale == (32.0, 48.0)
    cell = torch.tensor([3.0, 5.0])
    resized = FeatureToImage(16).to_image(cell)
    assert mapping.resized_to_original(resized).tolist() == mapping.to_image(cell).tolist()
    assert mapping.to_image(cell).tolist() == [(3.5 * 32) - 0.5, (5.5 * 48) - 0.5]
    assert mapping.lengths_to_image(torch.tensor([1.0, 2.0])).tolist() == [32.0, 96.0]


def test_boxes_use_continuous_coordinates() -> None:
    mapping = FeatureToImage((16, 8), resize=(1.0, 2.0))
    box = torch.tensor([0.0, 32.0, 64.0, 96.0])  # (x1, y1, x2, y2), x scale 16, y scale 16
    cells = mapping.boxes_to_feature(box)
    assert cells.tolist() == [-0.5, 1.5, 3.5, 5.5]  # box * scale - 0.5, as the RoI operators do
    torch.testing.assert_close(mapping.boxes_to_image(cells), box)
    # A box edge is 0.5 pixel away from the point (index) coordinate of the same cell value.
    point = mapping.to_image(torch.tensor([1.5, 3.5]))  # (y, x)
    assert (point + 0.5).tolist() == [box[1].item(), box[2].item()]


def test_feature_to_image_rejects_bad_stride() -> None:
    with pytest.raises(ValueError):
        FeatureToImage(0)
    with pytest.raises(ValueError):
        FeatureToImage((16, 16, 16))  # type: ignore[arg-type]
