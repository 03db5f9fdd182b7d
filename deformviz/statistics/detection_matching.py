"""Which annotated object each detection found: the decoder queries `deformviz stats` counts.

The rule (COCO's matching at IoU 0.5, without categories): detections are taken best score
first; each is matched to the not yet matched, non-crowd object it overlaps most, if that
intersection over union (boxes, original-image pixels) is at least `min_iou`; an object is
matched at most once and a detection at most once. Categories are not compared: a model's
class names and an annotation file's categories need not correspond (and a model with random
weights has none worth comparing), while the question asked of a query is only which object
it looks at. Crowd regions (iscrowd = 1) are never matched, as COCO ignores detections on
them; a detection matching nothing is not counted.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deformviz.geometry.boxes import box_iou

from .size_classes import ImageObjects

__all__ = ["MATCH_IOU", "match_detections"]

#: The overlap a detection needs with an object to have found it (COCO's AP50 criterion).
MATCH_IOU = 0.5


def match_detections(boxes: Tensor, objects: ImageObjects, min_iou: float = MATCH_IOU) -> Tensor:
    """The object each detection found (see the module doc).

    Args:
        boxes: [D, 4] (x1, y1, x2, y2) continuous original-image pixels, best score first.
        objects: the image's annotated objects.
        min_iou: the least intersection over union of a match.
    Returns:
        [D] long: the object's index, or -1 for a detection that found none.

    Example:
        >>> objects = ImageObjects.from_boxes(torch.tensor([[0., 0., 10., 10.]]), (20, 20))
        >>> match_detections(torch.tensor([[0., 0., 10., 9.], [1., 0., 10., 10.]]), objects).tolist()
        [0, -1]
    """
    found = torch.full((len(boxes),), -1, dtype=torch.long)
    if len(boxes) == 0 or len(objects) == 0:
        return found
    overlap = box_iou(boxes.detach().to(torch.float64).cpu(), objects.boxes.to(torch.float64))
    overlap[:, objects.crowd.cpu()] = -1.0  # never matched
    taken = torch.zeros(len(objects), dtype=torch.bool)
    for detection in range(len(boxes)):
        candidates = torch.where(taken, torch.full_like(overlap[detection], -1.0), overlap[detection])
        best = int(candidates.argmax())  # the first of equal overlaps: the earlier annotation
        if candidates[best] >= min_iou:
            found[detection] = best
            taken[best] = True
    return found
