"""COCO segmentations: compressed RLE codec, polygons, cropping."""

from __future__ import annotations

import numpy as np
import pytest

from deformviz.scenes.rle import encode_mask
from deformviz.statistics.masks import (check_segmentation, decode_compressed_counts,
                                        decode_segmentation, encode_compressed_counts)


def test_compressed_counts_round_trip_large_and_small_runs():
    rng = np.random.default_rng(0)
    counts = [0, 1, 31, 32, 1000, 5, 70000, 3] + rng.integers(0, 5000, 200).tolist()
    assert decode_compressed_counts(encode_compressed_counts(counts)) == counts


def test_known_compressed_string():
    # Runs 3, 5, 100: "3" is 3, "5" is 5, 100 = 0b11_00100 -> groups 4 (|0x20 more) and 3.
    assert encode_compressed_counts([3, 5, 100]) == chr(48 + 3) + chr(48 + 5) + chr(48 + (4 | 0x20)) + chr(48 + 3)
    assert decode_compressed_counts("35T3") == [3, 5, 100]


def test_rle_masks_decode_to_their_crop():
    mask = np.zeros((20, 30), dtype=bool)
    mask[4:9, 10:22] = True
    mask[12, 3] = True
    rle = encode_mask(mask)
    for segmentation in (rle, {"size": rle["size"], "counts": encode_compressed_counts(rle["counts"])}):
        crop = decode_segmentation(segmentation, (20, 30))
        assert (crop.top, crop.left, crop.pixels.shape) == (4, 3, (9, 19))
        rows, cols = np.nonzero(mask)
        assert crop.contains(rows, cols).all()
        assert crop.area == mask.sum()
        assert not crop.contains(np.array([0, 19, 100]), np.array([0, 29, -5])).any()


def test_polygon_covers_the_pixels_whose_centres_it_contains():
    # The square from (2, 3) to (6, 8) in continuous pixels covers pixels x 2..5, y 3..7.
    crop = decode_segmentation([[2, 3, 6, 3, 6, 8, 2, 8]], (10, 10))
    full = np.zeros((10, 10), dtype=bool)
    full[crop.top:crop.top + crop.pixels.shape[0], crop.left:crop.left + crop.pixels.shape[1]] = crop.pixels
    expected = np.zeros((10, 10), dtype=bool)
    expected[3:8, 2:6] = True
    assert (full == expected).all()


def test_empty_polygon_list_means_no_mask():
    assert decode_segmentation([], (5, 5)) is None


@pytest.mark.parametrize("segmentation, phrase", [
    ([[1, 2, 3]], "at least 3"),
    ([[1, 2, 3, 4, 5, float("nan")]], "finite"),
    ({"size": [5, 6], "counts": [30]}, "differs from the image"),
    ({"size": [5, 5], "counts": [1.5]}, "counts"),
    ("polygon", "segmentation must be"),
])
def test_malformed_segmentations_are_named(segmentation, phrase):
    assert phrase in check_segmentation(segmentation, (5, 5))


def test_rle_counts_that_do_not_add_up_fail_on_decode():
    with pytest.raises(ValueError, match="sum"):
        decode_segmentation({"size": [5, 5], "counts": [3, 4]}, (5, 5))


def test_polygon_agrees_with_a_point_in_polygon_test_on_pixel_centres():
    from matplotlib.path import Path as PolygonPath

    polygon = [3.2, 1.7, 17.9, 4.1, 12.3, 15.6, 8.0, 9.5, 1.1, 13.0]
    crop = decode_segmentation([polygon], (20, 20))
    full = np.zeros((20, 20), dtype=bool)
    full[crop.top:crop.top + crop.pixels.shape[0], crop.left:crop.left + crop.pixels.shape[1]] = crop.pixels
    rows, cols = np.mgrid[0:20, 0:20]
    centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], 1)
    expected = PolygonPath(np.asarray(polygon).reshape(-1, 2)).contains_points(centres).reshape(20, 20)
    assert (full == expected).all()
