"""One image's contribution to Table 2, from its chain of captured layers and its objects.

For each layer of the chain: the effective dilation of every output unit and the size class
of the object under the unit's centre. For the top layer's units on objects: how many of their
deepest-level sampling points fall inside their own object (mask where present, else box),
for the learned offsets and for the rigid zero-offset filter. Everything is vectorised over
all units of the image; only a loop over the image's objects remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .accumulators import DilationAccumulator, ShareAccumulator
from deformviz.geometry import ChainLayer

from .chain import layer_dilation, trace_deepest_points, unit_centres
from .size_classes import ImageObjects, SizeThresholds, place_units

__all__ = ["ImageStatistics", "image_statistics", "points_inside_objects", "points_in_objects"]


@dataclass(frozen=True, eq=False)
class ImageStatistics:
    """Per-unit numbers of one image.

    Attributes:
        dilation: per chain layer (by name), [U_l] effective dilation in input cells.
        classes: per chain layer, [U_l] class index (CLASSES), or IGNORED for units only on
            crowd regions or centred off the image (on padding).
        share_classes: [V] class (0..2) of each top-layer unit on an object, or None.
        inside_deformed, inside_rigid: [V] its deepest points inside its object, or None.
    """

    dilation: dict[str, Tensor]
    classes: dict[str, Tensor]
    share_classes: Tensor | None = None
    inside_deformed: Tensor | None = None
    inside_rigid: Tensor | None = None

    def add_to(self, dilation: DilationAccumulator, share: ShareAccumulator | None = None) -> None:
        """Add this image to the accumulators (exact; see `accumulators`)."""
        for name, values in self.dilation.items():
            dilation.add(name, values, self.classes[name])
        if share is not None and self.share_classes is not None:
            share.add(self.share_classes, self.inside_deformed, self.inside_rigid)  # type: ignore[arg-type]


def _packed_masks(objects: ImageObjects) -> tuple[Tensor, Tensor, Tensor]:
    """All mask crops in one flat bool tensor (element 0 a spare False), with per object
    (top, left, height, width, start) and whether it has a mask."""
    pieces = [torch.zeros(1, dtype=torch.bool)]
    table = torch.zeros(len(objects), 5, dtype=torch.int64)
    has_mask = torch.zeros(len(objects), dtype=torch.bool)
    start = 1
    for index, mask in enumerate(objects.masks):
        if mask is None:
            continue
        height, width = mask.pixels.shape
        table[index] = torch.tensor([mask.top, mask.left, height, width, start])
        has_mask[index] = True
        pieces.append(torch.from_numpy(mask.pixels.reshape(-1)))
        start += height * width
    return torch.cat(pieces), table, has_mask


def points_inside_objects(points: Tensor, assignment: Tensor, objects: ImageObjects) -> Tensor:
    """How many points of each unit lie in the unit's object (mask where present, else box),
    for all units at once: [V] int64 counts (arguments as `points_in_objects`)."""
    return points_in_objects(points, assignment, objects).sum(1)


def points_in_objects(points: Tensor, assignment: Tensor, objects: ImageObjects,
                      use_mask: bool = True) -> Tensor:
    """Whether each point of each unit lies in the unit's object: its mask where it has one
    (`use_mask`), else its box; for all units at once.

    Args:
        points: [V, P, 2] (y, x) original-image pixels, CONTINUOUS coordinates (pixel i spans
            [i, i + 1]: index coordinates + 0.5).
        assignment: [V] object index of each unit (>= 0).
        use_mask: False: the box, also for objects with a mask.
    Returns:
        [V, P] bool.
    """
    points = points.cpu()
    y, x = points[..., 0], points[..., 1]
    boxes = objects.boxes.to(points.dtype)[assignment].unsqueeze(-1)  # [V, 4, 1]
    inside = (x >= boxes[:, 0]) & (x < boxes[:, 2]) & (y >= boxes[:, 1]) & (y < boxes[:, 3])
    if use_mask and any(mask is not None for mask in objects.masks):
        flat, table, has_mask = _packed_masks(objects)
        top, left, height, width, start = table[assignment].unsqueeze(-1).unbind(1)
        rows = torch.floor(y).to(torch.int64) - top  # the pixel whose square holds the point
        cols = torch.floor(x).to(torch.int64) - left
        in_crop = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        index = torch.where(in_crop, start + rows * width + cols, torch.zeros_like(rows))
        in_mask = flat[index] & in_crop
        inside = torch.where(has_mask[assignment].unsqueeze(-1), in_mask, inside)
    return inside


def image_statistics(chain: Sequence[ChainLayer], names: Sequence[str], objects: ImageObjects,
                     thresholds: SizeThresholds, resize: tuple[float, float] = (1.0, 1.0),
                     use_mask: bool = False, share_levels: int | None = None) -> ImageStatistics:
    """Table 2's per-unit numbers for one image.

    Args:
        chain: the image's deformable layers, bottom to top.
        names: the layers' names (keys of the result).
        objects: its annotated objects in original-image pixels.
        thresholds: the size classes.
        resize: (ry, rx) original pixels per model-input pixel.
        use_mask: units belong to objects by mask (where present) instead of by box.
        share_levels: levels traced for the in-object share (0: skip it; None: all layers of the
            chain, at most 3, i.e. 729 points for 3x3 kernels).
    Returns:
        ImageStatistics.
    """
    dilation: dict[str, Tensor] = {}
    classes: dict[str, Tensor] = {}
    top_assignment = None
    if len(names) != len(chain):
        raise ValueError(f"need one name per layer, got {len(names)} for {len(chain)}")
    for name, layer in zip(names, chain):
        # Units centred on padding (past the resized image) are not on the image at all.
        assignment, classes[name] = place_units(unit_centres(layer, resize), objects, thresholds,
                                                use_mask)
        dilation[name] = layer_dilation(layer).detach().cpu()
        top_assignment = assignment
    levels = min(len(chain), 3) if share_levels is None else share_levels
    if levels == 0 or top_assignment is None:
        return ImageStatistics(dilation, classes)
    on_object = top_assignment >= 0
    share_classes = classes[names[-1]][on_object]
    assignment = top_assignment[on_object]
    rows, cols = chain[-1].output_size
    cells = torch.stack([torch.arange(rows).repeat_interleave(cols), torch.arange(cols).repeat(rows)], 1)
    units = cells[on_object]
    counts = []
    for rigid in (False, True):
        points = trace_deepest_points(chain, units, levels, rigid=rigid).cpu()
        # Model-input index coordinates -> continuous original-image coordinates.
        continuous = (points + 0.5) * points.new_tensor(resize)
        counts.append(points_inside_objects(continuous, assignment, objects))
    return ImageStatistics(dilation, classes, share_classes, counts[0], counts[1])
