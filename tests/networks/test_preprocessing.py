"""Preparing an image the way mmdetection and detectron2 do, and mapping back to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.errors import InputError
from deformviz.imaging import LoadedImage
from deformviz.networks.preprocessing import (CAFFE_BGR, MMDETECTION_PYTORCH, Preprocessing,
                                              resized_size)


@pytest.mark.parametrize("size, expected", [
    ((480, 640), (800, 1067)),     # shorter side to 800
    ((500, 2000), (333, 1333)),    # the longer side would pass 1333: it is capped instead
    ((1200, 800), (1200, 800)),    # already 800 on the shorter side
    ((600, 600), (800, 800)),
])
def test_resized_size_follows_short_800_long_1333(size, expected):
    assert resized_size(size, 800, 1333) == expected


def test_resized_size_options():
    assert resized_size((480, 640), 600, None) == (600, 800)
    assert resized_size((480, 640), None, 320) == (240, 320)
    assert resized_size((480, 640), None, None) == (480, 640)


def _image(height: int, width: int) -> LoadedImage:
    rng = np.random.default_rng(0)
    return LoadedImage(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "random")


def test_normalises_in_channel_order_and_pads_with_zeros():
    image = _image(40, 50)
    keep = Preprocessing("RGB", (10.0, 20.0, 30.0), (2.0, 4.0, 5.0), short_side=None,
                         max_long_side=None)
    prepared = keep.prepare(image)
    assert prepared.resized_size == (40, 50) and prepared.padded_size == (64, 64)
    assert prepared.resize == (1.0, 1.0)
    pixels = torch.from_numpy(image.pixels.astype(np.float32)).permute(2, 0, 1)
    expected = (pixels - torch.tensor([10.0, 20.0, 30.0])[:, None, None]) / torch.tensor(
        [2.0, 4.0, 5.0])[:, None, None]
    torch.testing.assert_close(prepared.tensor[0, :, :40, :50], expected)
    assert prepared.tensor[0, :, 40:].abs().max() == 0 and prepared.tensor[0, :, :, 50:].abs().max() == 0
    bgr = Preprocessing("BGR", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), None, None).prepare(image)
    torch.testing.assert_close(bgr.tensor[0, :, :40, :50], pixels.flip(0))


def test_resized_input_maps_back_to_original_pixels():
    prepared = MMDETECTION_PYTORCH.prepare(_image(300, 450))
    assert prepared.resized_size == (800, 1200) and prepared.padded_size == (800, 1216)
    assert prepared.original_size == (300, 450)
    assert prepared.resize == pytest.approx((300 / 800, 450 / 1200))
    # A box over the whole resized image is the whole original image: padding moved nothing.
    np.testing.assert_allclose(prepared.boxes_to_original(np.array([[0, 0, 1200, 800]])),
                               [[0, 0, 450, 300]])


def test_presets_and_bad_values():
    assert (CAFFE_BGR.channel_order, CAFFE_BGR.std) == ("BGR", (1.0, 1.0, 1.0))
    assert MMDETECTION_PYTORCH.mean == (123.675, 116.28, 103.53)
    assert "shorter side 800 (longer at most 1333)" in MMDETECTION_PYTORCH.describe()
    with pytest.raises(InputError, match="channel order"):
        Preprocessing("RBG", (0, 0, 0), (1, 1, 1))
    with pytest.raises(InputError, match="std positive"):
        Preprocessing("RGB", (0, 0, 0), (1, 0, 1))
    with pytest.raises(InputError, match="short side must be a whole number"):
        Preprocessing("RGB", (0, 0, 0), (1, 1, 1), short_side=5)
