"""One image's deformable-attention queries for `deformviz stats`: which are counted, in which
column, and how far and where they look.

Counted queries (the units of the attention table):
- decoder layer: the queries whose detection (score at least the threshold) found an annotated
  object (`detection_matching`: IoU >= 0.5, best score first, one query per object, crowd
  regions never), in the size class of that object; detections that found none are left out.
- encoder layer (self-attention over the levels' cells): every query, placed as the convolution
  statistics place units: the cell's centre (its level's grid, original-image pixels) on an
  object's box, or mask with `use_mask`, the smallest such object; else background; cells only
  on crowd regions or off the image (on padding) are left out.

Per counted query, with p_i its sampling points (all heads, levels and points; original-image
pixels), w_i their attention weights as the attention used them, r its reference point (the
point `sample` draws: level 1's copy of the reference point, a box's centre) and A the area of
its object (the area that decides the size class: box area, or the annotation's with masks):

    spread_px        = sum_i w_i |p_i - r| / sum_i w_i          (Euclidean, original pixels)
    spread_relative  = spread_px / sqrt(A)                      (objects only; A > 0)
    inside_share     = sum_i w_i [p_i in the object] / sum_i w_i (objects only)

"In the object": the object's box, or its mask where it has one with `use_mask` (a point is in
the pixel whose square holds it). The weights of a head sum to 1 (softmax over levels and
points), so every head counts alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from deformviz.geometry.attention_locations import locations_to_original, reference_to_original
from deformviz.imaging import ImageResize
from deformviz.probe import AttentionProbeResult, AttentionRecord

from .detection_matching import MATCH_IOU, match_detections
from .image_statistics import points_in_objects
from .size_classes import IGNORED, ImageObjects, SizeThresholds, place_units

__all__ = ["QueryValues", "query_spread", "weighted_share", "decoder_queries", "encoder_queries",
           "layer_values", "image_query_values"]


@dataclass(frozen=True, eq=False)
class QueryValues:
    """The counted queries of one attention layer on one image (see the module doc).

    Attributes:
        queries: [C] long, query indices in the layer's call.
        classes: [C] long, CLASSES index (small, medium, large, background).
        spread_px: [C] float64, original-image pixels.
        spread_relative: [C] float64, NaN on background (and for objects of area 0).
        inside_share: [C] float64 in [0, 1], NaN on background.
        left_out: queries of the layer not counted (unmatched detections; encoder cells on
            crowd regions only or off the image).
    """

    queries: Tensor
    classes: Tensor
    spread_px: Tensor
    spread_relative: Tensor
    inside_share: Tensor
    left_out: int


def query_spread(points: np.ndarray, weights: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Attention-weighted mean distance of each query's points from its reference point.

    Args:
        points: [Q, ..., 2] (x, y) pixels; weights: [Q, ...]; reference: [Q, 2] (x, y) pixels.
    Returns:
        [Q] float64, pixels.

    Example:
        >>> query_spread(np.array([[[3.0, 4.0], [0.0, 0.0]]]), np.array([[0.25, 0.75]]),
        ...              np.zeros((1, 2))).tolist()
        [1.25]
    """
    count = len(points)
    if count == 0:
        return np.zeros(0)
    offsets = np.asarray(points, np.float64).reshape(count, -1, 2) - \
        np.asarray(reference, np.float64).reshape(count, 1, 2)
    flat = np.asarray(weights, np.float64).reshape(count, -1)
    return (flat * np.hypot(offsets[..., 0], offsets[..., 1])).sum(1) / flat.sum(1)


def weighted_share(inside: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[Q, P] bool, [Q, P] weights -> [Q] attention-weighted share of the points inside."""
    if len(weights) == 0:
        return np.zeros(0)
    flat = np.asarray(weights, np.float64).reshape(len(weights), -1)
    return (flat * np.asarray(inside).reshape(flat.shape)).sum(1) / flat.sum(1)


def decoder_queries(record: AttentionRecord, boxes: Tensor, detected: Tensor,
                    objects: ImageObjects, thresholds: SizeThresholds,
                    min_iou: float = MATCH_IOU) -> tuple[Tensor, Tensor, Tensor, int]:
    """The decoder queries whose detection found an object.

    Args:
        boxes: [D, 4] (x1, y1, x2, y2) detections, continuous original-image pixels, best first.
        detected: [D] the decoder query of each detection.
    Returns:
        queries [C], their objects [C], classes [C], and how many detections found none.
    """
    if len(detected) and int(detected.max()) >= record.queries:
        raise ValueError(f"{record.name} has {record.queries} queries; the detections name "
                         f"query {int(detected.max())}")
    found = match_detections(boxes, objects, min_iou)
    matched = found >= 0
    assignment = found[matched]
    classes = thresholds.classify(objects.areas.to(torch.float64)[assignment])
    return detected.long()[matched], assignment, classes, int((~matched).sum())


def _cell_centres(record: AttentionRecord, resize: ImageResize) -> Tensor:
    """[Q, 2] (y, x) original-image pixels (index coordinates) of every cell of every level,
    in the order of the flattened value sequence (an encoder layer's queries)."""
    centres = []
    for (height, width), grid in zip(record.spatial_shapes, record.level_grids):
        cells = torch.stack(torch.meshgrid(torch.arange(height, dtype=torch.float64),
                                           torch.arange(width, dtype=torch.float64),
                                           indexing="ij"), -1).reshape(-1, 2)
        centres.append(resize.points_to_original(grid.to_pixels(cells)))
    return torch.cat(centres)


def encoder_queries(record: AttentionRecord, objects: ImageObjects, thresholds: SizeThresholds,
                    resize: ImageResize, use_mask: bool = False
                    ) -> tuple[Tensor, Tensor, Tensor, int]:
    """Every query (cell) of an encoder layer, placed by its cell's centre.

    Returns:
        queries [C], their objects [C] (-1 on background), classes [C], and how many cells were
        left out (crowd regions only, off the image).
    Raises:
        ValueError: the layer's queries are not its levels' cells.
    """
    cells = sum(h * w for h, w in record.spatial_shapes)
    if record.queries != cells:
        raise ValueError(f"{record.name}: {record.queries} queries over {cells} cells; an "
                         "encoder layer's queries are its levels' cells")
    assignment, classes = place_units(_cell_centres(record, resize), objects, thresholds, use_mask)
    counted = classes != IGNORED
    queries = torch.arange(record.queries)[counted]
    return queries, assignment[counted], classes[counted], int((~counted).sum())


def layer_values(record: AttentionRecord, queries: Tensor, assignment: Tensor, classes: Tensor,
                 left_out: int, objects: ImageObjects, resized_size: tuple[int, int],
                 batch_index: int = 0, use_mask: bool = False) -> QueryValues:
    """Spread and inside share of the counted `queries` of `record` (see the module doc).

    Args:
        queries, assignment, classes, left_out: from `decoder_queries` or `encoder_queries`.
        objects: the image's objects (their `image_size` is the original image's).
        resized_size: (H, W) the image had inside the model input (before padding).
    """
    original_size = objects.image_size
    chosen = queries.numpy()
    points = locations_to_original(record.locations[batch_index].numpy()[chosen],
                                   record.spatial_shapes, record.level_grids, resized_size,
                                   original_size)
    reference = reference_to_original(record.reference_points[batch_index].numpy()[chosen],
                                      record.spatial_shapes, record.level_grids, resized_size,
                                      original_size)
    weights = record.weights[batch_index].numpy()[chosen].astype(np.float64)
    # A level with fewer points (D-FINE) is padded with NaN places of weight 0: put them on
    # the reference, where they add nothing; a NaN of nonzero weight still shows below.
    padded = ~np.isfinite(points).all(-1) & (weights == 0)
    on_reference = reference.reshape(len(points), *[1] * (points.ndim - 2), 2)
    points = np.where(padded[..., None], on_reference, points)
    spread = torch.from_numpy(query_spread(points, weights, reference))
    relative = torch.full_like(spread, float("nan"))
    share = torch.full_like(spread, float("nan"))
    on_object = assignment >= 0
    if bool(on_object.any()):
        which = on_object.numpy()
        area = objects.areas.to(torch.float64)[assignment[on_object]]
        relative[on_object] = torch.where(area > 0, spread[on_object] / area.sqrt(),
                                          torch.full_like(area, float("nan")))
        # (x, y) index coordinates -> (y, x) continuous, as `points_in_objects` takes them.
        flat = torch.from_numpy(np.ascontiguousarray(
            points[which].reshape(int(which.sum()), -1, 2)[..., ::-1]) + 0.5)
        inside = points_in_objects(flat, assignment[on_object], objects, use_mask)
        share[on_object] = torch.from_numpy(weighted_share(inside.numpy(), weights[which]))
    return QueryValues(queries, classes, spread, relative, share, left_out)


def image_query_values(probed: AttentionProbeResult, layers: Sequence[str],
                       detection_boxes: Tensor | None, detected: Tensor | None,
                       objects: ImageObjects, thresholds: SizeThresholds,
                       resized_size: tuple[int, int], use_mask: bool = False,
                       min_iou: float = MATCH_IOU) -> dict[str, QueryValues]:
    """The counted queries of every named layer of one probed image (batch index 0).

    Args:
        probed: the pass's records (`deformviz.networks.attention_pass`).
        layers: qualified names of the layers (encoder or decoder calls).
        detection_boxes: [D, 4] the detections, continuous MODEL-INPUT pixels, best first
            (None: no detection head; then no decoder layer can be counted).
        detected: [D] the decoder query of each detection.
        objects: the image's objects, original pixels.
        resized_size: (H, W) of the image inside the model input.
    Returns:
        {qualified name: QueryValues}.
    Raises:
        ValueError: a decoder layer without detections' queries, an encoder layer whose
            queries are not cells, non-finite locations or weights.
    """
    resize = ImageResize.between(objects.image_size, resized_size)
    values: dict[str, QueryValues] = {}
    for name in layers:
        record = probed.layer(name)
        if record.stage == "decoder":
            if detection_boxes is None or detected is None:
                raise ValueError(f"{name}: decoder queries are counted through the network's "
                                 "detections, and it has no detection head")
            boxes = resize.boxes_to_original(detection_boxes.detach().to(torch.float64).cpu())
            chosen = decoder_queries(record, boxes, detected.cpu(), objects, thresholds, min_iou)
        else:
            chosen = encoder_queries(record, objects, thresholds, resize, use_mask)
        result = layer_values(record, *chosen, objects, resized_size, use_mask=use_mask)
        if not bool(torch.isfinite(result.spread_px).all()):
            raise ValueError(f"{name}: non-finite sampling locations or attention weights")
        values[name] = result
    return values
