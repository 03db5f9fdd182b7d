"""Which object a unit sits on, and that object's size class (the columns of Table 2).

A unit belongs to an object when its centre (mapped to original-image pixels) lies inside the
object: inside its box (the paper's rule, the default), or inside its mask where it has one
(`containment="mask"`). A unit inside several objects goes to the SMALLEST of them (the most
specific object under its centre: a face in front of a person counts for the face); equal
areas go to the earlier annotation. A unit inside no object is background. A unit inside only
crowd regions (COCO's iscrowd = 1: many objects, none singled out) is neither and is left out
of every class (counted as "ignored").

Size classes compare the object's area with two thresholds: small below `small_below`,
large above `large_above`, medium in between (both ends included), as in evaluate's Table 2.
The area is the box's width * height with box containment (the paper's grouping), and the
annotation's "area" (COCO's segment area; the mask's pixel count if absent) with mask
containment (COCO's convention for APs / APm / APl).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from deformviz.errors import InputError

from .masks import MaskCrop

__all__ = ["CLASSES", "IGNORED", "BACKGROUND", "SizeThresholds", "ImageObjects", "assign_units",
           "unit_classes", "place_units"]

CLASSES = ("small", "medium", "large", "background")
BACKGROUND = CLASSES.index("background")
IGNORED = len(CLASSES)  # units on crowd regions only, or on padding: counted, in no class
_NO_OBJECT, _CROWD_ONLY = -1, -2


@dataclass(frozen=True)
class SizeThresholds:
    """Object areas (pixels squared, original image) that separate small, medium and large."""

    small_below: float
    large_above: float

    def __post_init__(self) -> None:
        if not (0 <= self.small_below <= self.large_above and math.isfinite(self.large_above)):
            raise InputError(f"size thresholds must satisfy 0 <= small <= large, got "
                             f"{self.small_below} and {self.large_above}")

    @classmethod
    def coco(cls) -> SizeThresholds:
        """COCO's: small < 32^2, large > 96^2."""
        return cls(32.0 ** 2, 96.0 ** 2)

    @classmethod
    def paper(cls) -> SizeThresholds:
        """The paper's Table 2 (VOC, shorter side 600 px): small < 96^2, large > 224^2."""
        return cls(96.0 ** 2, 224.0 ** 2)

    @classmethod
    def parse(cls, text: str) -> SizeThresholds:
        """"coco", "paper", or "S,L": sides in pixels (small below S^2, large above L^2).
        InputError otherwise, in the argument's words ("thresholds ..."; the command line says
        "--thresholds ...")."""
        value = text.strip().lower()
        if value == "coco":
            return cls.coco()
        if value == "paper":
            return cls.paper()
        parts = value.split(",")
        try:
            small, large = (float(p) for p in parts)
        except ValueError:
            raise InputError(f"thresholds {text!r}: expected coco, paper or two sides in "
                             "pixels such as 32,96") from None
        if not (math.isfinite(small) and math.isfinite(large) and 0 <= small <= large):
            raise InputError(f"thresholds {text!r}: need 0 <= small side <= large side")
        return cls(small ** 2, large ** 2)

    def classify(self, areas: Tensor) -> Tensor:
        """[N] areas -> [N] long class index into CLASSES (never background)."""
        classes = torch.full(areas.shape, CLASSES.index("medium"), dtype=torch.long)
        classes[areas < self.small_below] = CLASSES.index("small")
        classes[areas > self.large_above] = CLASSES.index("large")
        return classes

    def to_json(self) -> dict[str, float]:
        return {"small_below": self.small_below, "large_above": self.large_above}


@dataclass(frozen=True, eq=False)
class ImageObjects:
    """The annotated objects of one image, in ORIGINAL-image pixels.

    Attributes:
        image_size: (H, W) in pixels.
        boxes: [N, 4] float64 (x1, y1, x2, y2) continuous pixels.
        areas: [N] float64, the area that decides the size class (see the module doc).
        crowd: [N] bool.
        masks: N entries, a MaskCrop or None (no segmentation: the box stands in).
    """

    image_size: tuple[int, int]
    boxes: Tensor
    areas: Tensor
    crowd: Tensor
    masks: tuple[MaskCrop | None, ...]

    @classmethod
    def from_boxes(cls, boxes: Tensor, image_size: tuple[int, int]) -> ImageObjects:
        """Objects given by boxes alone, sized by box area (evaluate's scenes)."""
        boxes = boxes.detach().to(torch.float64).reshape(-1, 4).cpu()
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return cls(image_size, boxes, areas, torch.zeros(len(boxes), dtype=torch.bool),
                   (None,) * len(boxes))

    def __len__(self) -> int:
        return len(self.boxes)

    def inside(self, index: int, points: Tensor, use_mask: bool) -> Tensor:
        """Whether points lie in object `index`.

        Args:
            points: [..., 2] (y, x) original-image pixels, index coordinates (pixel i's
                centre at i; continuous position i + 0.5).
            use_mask: test the mask where there is one, else the box.
        Returns:
            [...] bool.
        """
        mask = self.masks[index] if use_mask else None
        if mask is None:
            x1, y1, x2, y2 = (float(v) for v in self.boxes[index])
            y, x = points[..., 0] + 0.5, points[..., 1] + 0.5
            return (x >= x1) & (x < x2) & (y >= y1) & (y < y2)
        pixel = torch.floor(points + 0.5).to(torch.int64).cpu().numpy()
        inside = mask.contains(pixel[..., 0], pixel[..., 1])
        return torch.from_numpy(inside).to(points.device)


def assign_units(centres: Tensor, objects: ImageObjects, use_mask: bool = False) -> Tensor:
    """The object each unit sits on: the smallest containing one (see the module doc).

    Args:
        centres: [U, 2] (y, x) unit centres, original-image pixels, index coordinates.
        objects: the image's objects.
        use_mask: containment by mask where present (else by box).
    Returns:
        [U] long: object index, -1 for background, -2 for crowd regions only.
    """
    count = len(objects)
    result = torch.full((len(centres),), _NO_OBJECT, dtype=torch.long)
    if count == 0 or len(centres) == 0:
        return result
    centres = centres.to(torch.float64).cpu()
    inside = torch.stack([objects.inside(n, centres, use_mask) for n in range(count)], 1)  # [U, N]
    crowd = objects.crowd.cpu()
    single = inside & ~crowd
    areas = torch.where(single, objects.areas.to(torch.float64).expand_as(single),
                        torch.full(single.shape, math.inf, dtype=torch.float64))
    # argmin returns the first of equal minima: equal areas go to the earlier annotation.
    smallest = areas.argmin(1)
    found = single.any(1)
    result[found] = smallest[found]
    result[~found & (inside & crowd).any(1)] = _CROWD_ONLY
    return result


def unit_classes(assignment: Tensor, objects: ImageObjects, thresholds: SizeThresholds) -> Tensor:
    """[U] object indices from `assign_units` -> [U] long index into CLASSES, or IGNORED."""
    classes = torch.full(assignment.shape, BACKGROUND, dtype=torch.long)
    if len(objects):
        object_classes = thresholds.classify(objects.areas.to(torch.float64).cpu())
        on_object = assignment >= 0
        classes[on_object] = object_classes[assignment[on_object]]
    classes[assignment == _CROWD_ONLY] = IGNORED
    return classes



def place_units(centres: Tensor, objects: ImageObjects, thresholds: SizeThresholds,
                use_mask: bool = False) -> tuple[Tensor, Tensor]:
    """Object and class of every unit, units centred off the image (on a model input's
    padding) on neither.

    Args:
        centres: [U, 2] (y, x) unit centres, original-image pixels, index coordinates.
    Returns:
        [U] long object index (`assign_units`; -1 also off the image) and [U] long class
        (`unit_classes`; IGNORED off the image).
    """
    assignment = assign_units(centres, objects, use_mask)
    classes = unit_classes(assignment, objects, thresholds)
    height, width = objects.image_size
    y, x = centres[:, 0].cpu() + 0.5, centres[:, 1].cpu() + 0.5
    off_image = (y < 0) | (y >= height) | (x < 0) | (x >= width)
    classes[off_image] = IGNORED
    assignment[off_image] = -1
    return assignment, classes
