"""Units on objects: smallest containing object, crowd regions, masks, thresholds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.errors import InputError
from deformviz.statistics.masks import MaskCrop
from deformviz.statistics.size_classes import (CLASSES, IGNORED, ImageObjects, SizeThresholds,
                                               assign_units, unit_classes)


def _objects(masks=None, crowd=(False, False, False, True)):
    boxes = torch.tensor([[0.0, 0, 200, 200], [10, 10, 30, 30], [100, 100, 160, 160], [170, 0, 256, 40]],
                         dtype=torch.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return ImageObjects((256, 256), boxes, areas, torch.tensor(crowd), masks or (None,) * 4)


def test_smallest_containing_box_and_crowd_regions():
    objects = _objects()
    # (y, x) index coordinates: continuous position + 0.5.
    centres = torch.tensor([[20.0, 20], [120, 120], [50, 180], [230, 230], [20, 220]])
    assignment = assign_units(centres, objects)
    assert assignment.tolist() == [1, 2, 0, -1, -2]
    names = [CLASSES[i] if i < len(CLASSES) else "ignored"
             for i in unit_classes(assignment, objects, SizeThresholds(41 ** 2, 96 ** 2))]
    assert names == ["small", "medium", "large", "background", "ignored"]
    assert unit_classes(assignment, objects, SizeThresholds.coco())[-1] == IGNORED


def test_box_edges_are_half_open():
    objects = _objects()
    # Box 1 spans continuous [10, 30): index 9.5 is its first edge, 29.5 is outside.
    assert assign_units(torch.tensor([[9.5, 9.5], [29.5, 20.0]]), objects).tolist() == [1, 0]


def test_mask_containment_uses_the_mask_where_there_is_one():
    pixels = np.zeros((20, 20), dtype=bool)
    pixels[:5, :5] = True  # only the top-left corner of box 1
    objects = _objects(masks=(None, MaskCrop(10, 10, pixels), None, None))
    centres = torch.tensor([[12.0, 12.0], [25.0, 25.0]])
    assert assign_units(centres, objects, use_mask=False).tolist() == [1, 1]
    assert assign_units(centres, objects, use_mask=True).tolist() == [1, 0]


def test_thresholds():
    assert SizeThresholds.parse("coco") == SizeThresholds(1024.0, 9216.0)
    assert SizeThresholds.parse("paper") == SizeThresholds(96.0 ** 2, 224.0 ** 2)
    assert SizeThresholds.parse("10,20") == SizeThresholds(100.0, 400.0)
    classes = SizeThresholds(100.0, 400.0).classify(torch.tensor([99.0, 100, 400, 401]))
    assert [CLASSES[i] for i in classes] == ["small", "medium", "medium", "large"]
    for bad in ("huge", "3", "20,10", "a,b"):
        with pytest.raises(InputError, match=r"^thresholds '"):  # argument words, not flags
            SizeThresholds.parse(bad)
