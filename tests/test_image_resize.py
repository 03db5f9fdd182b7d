"""The one resize object: sizes, pixels, points and boxes, used by preprocessing and mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.geometry import FeatureToImage, MapGrid
from deformviz.image_resize import ImageResize
from deformviz.imaging import LoadedImage, prepare_for_model
from deformviz.networks.preprocessing import LongSideResize, Preprocessing


def test_points_and_boxes_round_trip_numpy_and_torch() -> None:
    resize = ImageResize.between((300, 451), (336, 512))
    points = np.array([[10.0, 20.0], [299.0, 450.0]])
    back = resize.points_to_original(resize.points_to_input(points))
    np.testing.assert_allclose(back, points)
    as_tensor = resize.points_to_original(torch.from_numpy(resize.points_to_input(points)))
    assert isinstance(as_tensor, torch.Tensor)
    np.testing.assert_allclose(as_tensor.numpy(), points)
    np.testing.assert_allclose(resize.boxes_to_input([[0, 0, 451, 300]]), [[0, 0, 512, 336]])
    # centre-aligned: model-input pixel 0's centre lies inside original pixel 0, not at 0
    assert resize.points_to_original(np.array([0.0, 0.0]))[0] == pytest.approx(
        0.5 * 300 / 336 - 0.5)


def test_preparations_carry_the_resize_they_applied() -> None:
    image = LoadedImage(np.zeros((300, 451, 3), np.uint8), "black")
    bundled = LongSideResize(512)
    assert bundled.prepare(image).image_resize == bundled.image_resize(image.size)
    assert prepare_for_model(image, 512).resized_size == (336, 512)
    loaded = Preprocessing("RGB", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 600, 800)
    prepared = loaded.prepare(image)
    assert prepared.image_resize == loaded.image_resize(image.size)
    assert prepared.image_resize.resized_size == (532, 800)  # 600 would make the long side 902


def test_cell_mapping_applies_the_same_resize() -> None:
    image = LoadedImage(np.zeros((300, 451, 3), np.uint8), "black")
    prepared = prepare_for_model(image, 512)
    grid = MapGrid(16, 15.0)
    by_object = FeatureToImage.from_grid(grid, resize=prepared.image_resize)
    by_sizes = FeatureToImage.from_grid(grid, prepared.resized_size, prepared.original_size)
    assert by_object == by_sizes
    cells = torch.tensor([[3.0, 5.0]], dtype=torch.float64)
    expected = prepared.image_resize.points_to_original(grid.to_pixels(cells))
    assert torch.equal(by_object.to_image(cells), expected)
    with pytest.raises(ValueError, match="not both"):
        FeatureToImage.from_grid(grid, (336, 512), (300, 451), resize=prepared.image_resize)


def test_old_names_still_work_and_warn() -> None:
    from deformviz.geometry.layers import FeatureToImage as old_home
    from deformviz.imaging import model_input_size

    assert old_home is FeatureToImage
    with pytest.warns(DeprecationWarning, match="ImageResize"):
        assert model_input_size((300, 451), 512) == (336, 512)
