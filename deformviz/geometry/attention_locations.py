"""Deformable attention locations -> feature cells -> model-input pixels -> original pixels.

Multi-scale deformable attention samples each level with `grid_sample(align_corners=False)`
at locations normalised to the level's padded map: 0 and 1 are the map's outer edges, so cell
i's centre is at (i + 0.5) / W. Steps, per axis:

    cell   = location * W_l - 0.5                 (feature cells of level l, index coordinates)
    input  = cell * stride_l + origin_l           (model-input pixels; the level's MapGrid,
                                                   from the network's own conv arithmetic)
    image  = (input + 0.5) * original / resized - 0.5   (original-image pixels; the resize)

Unlike the rest of `deformviz.geometry`, points here are (x, y), the order the attention
libraries and the exported data use. Plain numpy: the grids only need `.stride` and
`.origin` ((y, x) pairs, as `MapGrid` has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["LevelGrid", "normalized_to_cells", "cells_to_input", "input_to_original",
           "locations_to_original", "reference_to_original", "QueryPixels", "query_pixels",
           "valid_boxes_to_original"]


class LevelGrid(Protocol):
    """Where a level's cells sit on the model input: cell p centred at p * stride + origin,
    (y, x) pairs in model-input pixels (`deformviz.geometry.MapGrid` is one)."""

    stride: tuple[float, float]
    origin: tuple[float, float]


def normalized_to_cells(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """[..., 2] (x, y) normalised to a padded (H, W) map -> [..., 2] (x, y) cells.

    Example:
        >>> normalized_to_cells(np.array([[0.5 / 16, 1.0]]), (12, 16)).tolist()
        [[0.0, 11.5]]
    """
    height, width = shape
    return np.asarray(points, dtype=np.float64) * np.array([width, height]) - 0.5


def cells_to_input(cells: np.ndarray, grid: LevelGrid) -> np.ndarray:
    """[..., 2] (x, y) cells of a level -> [..., 2] (x, y) model-input pixels."""
    stride = np.array([grid.stride[1], grid.stride[0]], dtype=np.float64)
    origin = np.array([grid.origin[1], grid.origin[0]], dtype=np.float64)
    return np.asarray(cells, dtype=np.float64) * stride + origin


def input_to_original(points: np.ndarray, resized_size: tuple[int, int],
                      original_size: tuple[int, int]) -> np.ndarray:
    """[..., 2] (x, y) model-input pixels -> original-image pixels (index coordinates), for an
    image resized from original_size to resized_size ((h, w) each) and padded bottom/right.

    Example:
        >>> corners = np.array([[0.0, 0.0], [799.0, 599.0]])
        >>> input_to_original(corners, (600, 800), (300, 400)).tolist()
        [[-0.25, -0.25], [399.25, 299.25]]
    """
    scale = np.array([original_size[1] / resized_size[1], original_size[0] / resized_size[0]])
    return (np.asarray(points, dtype=np.float64) + 0.5) * scale - 0.5


@dataclass(frozen=True)
class QueryPixels:
    """One query's attention in original-image pixels.

    Attributes:
        reference: (x, y) reference point, index coordinates (level 0's copy of it).
        reference_box: (x1, y1, x2, y2) continuous pixels when the reference is a box, else None.
        points: [M, L, K, 2] (x, y) sampling locations, index coordinates.
        weights: [M, L, K] attention weights as the attention used them.
    """

    reference: tuple[float, float]
    reference_box: tuple[float, float, float, float] | None
    points: np.ndarray
    weights: np.ndarray


def locations_to_original(locations: np.ndarray, shapes: Sequence[tuple[int, int]],
                          grids: Sequence[LevelGrid], resized_size: tuple[int, int],
                          original_size: tuple[int, int]) -> np.ndarray:
    """Sampling locations of any number of queries, [..., L, K, 2] (x, y) normalised to each
    padded level map, -> [..., L, K, 2] (x, y) original-image pixels (index coordinates),
    float64. Element by element the same arithmetic for one query or for all of them."""
    locations = np.asarray(locations, dtype=np.float64)
    points = np.empty_like(locations)
    for level, (shape, grid) in enumerate(zip(shapes, grids)):
        cells = normalized_to_cells(locations[..., level, :, :], shape)
        points[..., level, :, :] = input_to_original(cells_to_input(cells, grid), resized_size,
                                                     original_size)
    return points


def reference_to_original(reference: np.ndarray, shapes: Sequence[tuple[int, int]],
                          grids: Sequence[LevelGrid], resized_size: tuple[int, int],
                          original_size: tuple[int, int]) -> np.ndarray:
    """Reference points (or boxes) of any number of queries, [..., L or 1, 2 or 4] as recorded,
    -> [..., 2] (x, y) original-image pixels (index coordinates): level 0's copy of the point
    (a box's centre) through level 0's grid, the point `sample` draws."""
    reference = np.asarray(reference, dtype=np.float64)
    return input_to_original(cells_to_input(normalized_to_cells(reference[..., 0, :2], shapes[0]),
                                            grids[0]), resized_size, original_size)


def query_pixels(locations: np.ndarray, weights: np.ndarray, reference: np.ndarray,
                 shapes: Sequence[tuple[int, int]], grids: Sequence[LevelGrid],
                 resized_size: tuple[int, int], original_size: tuple[int, int]) -> QueryPixels:
    """One query's locations [M, L, K, 2], weights [M, L, K] and reference [L or 1, 2 or 4]
    (all normalised to the padded level maps, as recorded) -> original-image pixels.

    Example:
        >>> from deformviz.geometry import MapGrid
        >>> locs = np.full((1, 1, 1, 2), 0.5)           # the middle of a 10 x 10 map
        >>> q = query_pixels(locs, np.ones((1, 1, 1)), np.array([[0.5, 0.5]]), [(10, 10)],
        ...                  [MapGrid(8)], (80, 80), (40, 40))
        >>> q.points[0, 0, 0].tolist(), q.reference
        ([17.75, 17.75], (17.75, 17.75))
    """
    points = locations_to_original(locations, shapes, grids, resized_size, original_size)
    reference = np.asarray(reference, dtype=np.float64)
    centre = reference_to_original(reference, shapes, grids, resized_size, original_size)
    box = None
    if reference.shape[-1] == 4:
        # The box's extent in continuous pixels: normalised size * map cells * stride, resized.
        height, width = shapes[0]
        size = reference[0, 2:] * np.array([width * grids[0].stride[1],
                                            height * grids[0].stride[0]])
        size = size * np.array([original_size[1] / resized_size[1],
                                original_size[0] / resized_size[0]])
        middle = centre + 0.5  # index coordinates -> continuous (pixel i spans [i, i + 1))
        box = tuple(float(v) for v in (*(middle - size / 2), *(middle + size / 2)))
    return QueryPixels((float(centre[0]), float(centre[1])), box,  # type: ignore[arg-type]
                       points, np.asarray(weights, dtype=np.float64))


def valid_boxes_to_original(boxes: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
    """[N, 4] (cx, cy, w, h) boxes normalised to the valid (unpadded) image, as DETR heads
    predict them -> [N, 4] (x1, y1, x2, y2) continuous original-image pixels (the valid image
    is the whole original, resized).

    Example:
        >>> valid_boxes_to_original(np.array([[0.5, 0.5, 0.5, 1.0]]), (300, 400)).tolist()
        [[100.0, 0.0, 300.0, 300.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scale = np.array([original_size[1], original_size[0]], dtype=np.float64)
    centre, size = boxes[:, :2] * scale, boxes[:, 2:] * scale
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)
