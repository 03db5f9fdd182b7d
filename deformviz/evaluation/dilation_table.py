"""The paper's Table 2 in `evaluate`: its configuration on the generated scenes.

The measuring is `deformviz.statistics` (the code `deformviz stats` runs on users' datasets):
units are grouped by the smallest box containing their centre, values are added in exact
accumulators. What is specific to evaluate is the size classes: the paper's thresholds (small
< 96^2, large > 224^2 pixels of box area, for images whose shorter side is about 600 px),
scaled to the evaluation images: a threshold side t becomes t * (image side / 600): at
384 x 384, the bundled model's training size, small < 61^2 and large > 143^2 pixels of area; at
256 x 256, small < 41^2 and large > 96^2.
"""

from __future__ import annotations

from torch import Tensor

from deformviz.statistics.size_classes import CLASSES, ImageObjects, SizeThresholds, assign_units, unit_classes

__all__ = ["CATEGORIES", "PAPER_SIDE", "size_thresholds", "unit_categories"]

CATEGORIES = CLASSES
PAPER_SIDE = 600.0


def size_thresholds(image_side: float) -> SizeThresholds:
    """The paper's thresholds scaled to images of `image_side` pixels (box areas, pixels²)."""
    scale = image_side / PAPER_SIDE
    return SizeThresholds((96 * scale) ** 2, (224 * scale) ** 2)


def unit_categories(unit_pixels: Tensor, boxes: Tensor, image_side: float) -> Tensor:
    """Category index (into CATEGORIES) of each unit, as evaluate groups them.

    Args:
        unit_pixels: [U, 2] (x, y) unit centres, continuous image pixels.
        boxes: [N, 4] ground-truth boxes of the image, continuous pixels.
    Returns:
        [U] int64. A unit inside several boxes takes the smallest (the most specific object).
    """
    side = int(round(image_side))
    objects = ImageObjects.from_boxes(boxes, (side, side))
    # (x, y) continuous -> (y, x) index coordinates, the statistics' convention.
    centres = unit_pixels.flip(-1).double() - 0.5
    return unit_classes(assign_units(centres, objects), objects, size_thresholds(image_side))
