"""One image's numbers from a hand-made chain: classes, padding, in-object shares."""

from __future__ import annotations

import torch

from deformviz.geometry import ChainLayer, DeformLayerGeometry, MapGrid
from deformviz.statistics.image_statistics import image_statistics
from deformviz.statistics.size_classes import CLASSES, IGNORED, ImageObjects, SizeThresholds


def _chain(size=(8, 8), offset_scale=0.0):
    grid = MapGrid(16.0, 7.5)
    geometry = DeformLayerGeometry.paper_res5()
    generator = torch.Generator().manual_seed(0)
    return [ChainLayer(geometry, torch.randn(18, *size, generator=generator) * offset_scale, None,
                       size, grid, grid) for _ in range(3)]


NAMES = ("a", "b", "c")


def test_units_on_padding_are_ignored_and_objects_classed():
    # The 8x8 map covers 128 px, the image only 100 x 128: rows 6 and 7 (centres 103.5, 119.5)
    # fall on padding.
    objects = ImageObjects.from_boxes(torch.tensor([[0.0, 0, 48, 48], [64, 0, 128, 100]]), (100, 128))
    stats = image_statistics(_chain(), NAMES, objects, SizeThresholds(50 ** 2, 60 ** 2))
    classes = stats.classes["c"].reshape(8, 8)
    assert (classes[6:] == IGNORED).all() and (classes[:6] != IGNORED).all()
    assert classes[0, 0] == CLASSES.index("small") and classes[0, 5] == CLASSES.index("large")
    assert classes[4, 2] == CLASSES.index("background")
    assert (stats.dilation["a"] == 2.0).all()


def test_rigid_and_learned_shares_count_points_in_the_box():
    objects = ImageObjects.from_boxes(torch.tensor([[0.0, 0, 128, 128]]), (128, 128))
    stats = image_statistics(_chain(offset_scale=0.0), NAMES, objects, SizeThresholds.coco())
    assert torch.equal(stats.inside_deformed, stats.inside_rigid)
    # The centre unit's 729 points span +-6 cells (96 px) around it; some fall off the image.
    assert stats.inside_rigid.max() <= 729 and stats.inside_rigid.min() > 0
    wide = image_statistics(_chain(offset_scale=30.0), NAMES, objects, SizeThresholds.coco())
    assert wide.inside_deformed.sum() < stats.inside_deformed.sum()  # big offsets leave the image
    assert torch.equal(wide.inside_rigid, stats.inside_rigid)
