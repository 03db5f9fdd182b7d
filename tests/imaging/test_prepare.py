"""prepare_for_model: multiples of 16, the longer side as asked, exact per-axis scales."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.errors import InputError
from deformviz.imaging import LoadedImage, model_input_size, prepare_for_model


@pytest.mark.parametrize("size,long_side,expected", [
    ((300, 451), 512, (336, 512)),   # chelsea: 340.6 -> 336
    ((512, 512), 512, (512, 512)),
    ((427, 640), 256, (176, 256)),
    ((5, 10000), 512, (16, 512)),     # extreme aspect: at least one cell
    ((100, 60), 512, (512, 304)),     # small images are enlarged
])
def test_model_input_size(size, long_side, expected) -> None:
    assert model_input_size(size, long_side) == expected


def test_prepare_keeps_exact_scales_and_range() -> None:
    image = LoadedImage(np.full((300, 451, 3), 255, np.uint8), "white")
    prepared = prepare_for_model(image, 512)
    assert prepared.tensor.shape == (1, 3, 336, 512) and prepared.tensor.dtype == torch.float32
    assert torch.allclose(prepared.tensor, torch.ones(()))
    assert prepared.resize == (300 / 336, 451 / 512)
    boxes = np.array([[10.0, 20.0, 451.0, 300.0]])
    np.testing.assert_allclose(prepared.boxes_to_original(prepared.boxes_to_input(boxes)), boxes)
    np.testing.assert_allclose(prepared.boxes_to_input(boxes)[0, 2:], [512, 336])


@pytest.mark.parametrize("long_side", [500, 16, 8192])
def test_prepare_rejects_bad_sizes(long_side: int) -> None:
    with pytest.raises(InputError, match="multiple of 16"):
        prepare_for_model(LoadedImage(np.zeros((8, 8, 3), np.uint8), "x"), long_side)
