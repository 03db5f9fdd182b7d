"""Which activation units to show: requested pixels, the paper's Fig. 6 triplet, or a grid.

Units are cells of the top deformable layer's output map. A requested pixel picks the cell
whose centre is nearest to it. `auto_units` picks, from the network's own detections, one unit
on background, one on a small object and one on a large object (like the triplets of the
paper's Fig. 6), then the other detections by size class, more units on the objects, and
only then more background; units keep away from the map's
border and from each other (see `auto_units` for the rules).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from deformviz.errors import InputError, UnitError
from deformviz.geometry import FeatureToImage

from .headless_units import headless_units
from .results import Detection, Unit

__all__ = ["check_unit_pixels", "check_image_size", "MIN_CELLS", "unit_at", "auto_units",
           "grid_units", "ROLE_ORDER",
           "border_margin", "min_separation"]

# Display order of the roles, the paper's left-to-right order first.
ROLE_ORDER = ("background", "small object", "medium object", "large object", "object",
              "tightest sampling", "typical sampling", "widest sampling", "spread", "requested",
              "grid")


def check_unit_pixels(pixels: list[tuple[float, float]], image_size: tuple[int, int]) -> None:
    """Raise UnitError unless every (x, y) lies in the image: 0 <= x < W, 0 <= y < H."""
    height, width = image_size
    for x, y in pixels:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise UnitError(f"unit ({x}, {y}) is not a pair of finite numbers")
        if not (0 <= x < width and 0 <= y < height):
            raise UnitError(f"unit ({x:g}, {y:g}) is outside the image ({width}x{height} pixels: "
                            f"x must be in [0, {width}), y in [0, {height}))")


MIN_CELLS = 3  # an image must span this many cells of the top layer on its shorter side


def check_image_size(image_size: tuple[int, int], cell: tuple[float, float],
                     layer: str) -> None:
    """InputError unless the (H, W) image spans `MIN_CELLS` cells of the top layer on each
    side at its own resolution (`cell`: (h, w) of a cell in model-input pixels). A smaller
    image is only blown up for the network: every unit would sit on the same few pixels,
    and its panel titles would place units where nothing can be told apart."""
    height, width = image_size
    needed = (math.ceil(MIN_CELLS * cell[0]), math.ceil(MIN_CELLS * cell[1]))
    if height < needed[0] or width < needed[1]:
        raise InputError(f"the image is {width}x{height} pixels, too small for {layer} "
                         f"({cell[1]:g}-pixel cells): the smallest image that works is "
                         f"{needed[1]}x{needed[0]} pixels ({MIN_CELLS} cells a side)")


def _unit(cell: tuple[int, int], mapping: FeatureToImage, role: str,
          detection: Detection | None = None) -> Unit:
    centre = mapping.to_image(torch.tensor(cell, dtype=torch.float64)).tolist()  # (y, x)
    return Unit((int(cell[0]), int(cell[1])), (centre[1], centre[0]), role, detection)


def _nearest_cell(x: float, y: float, mapping: FeatureToImage,
                  feature_size: tuple[int, int]) -> tuple[int, int]:
    cell = mapping.to_feature(torch.tensor([y, x], dtype=torch.float64)).round()
    return (int(cell[0].clamp(0, feature_size[0] - 1)), int(cell[1].clamp(0, feature_size[1] - 1)))


def unit_at(x: float, y: float, mapping: FeatureToImage, feature_size: tuple[int, int],
            image_size: tuple[int, int], role: str = "requested") -> Unit:
    """The unit whose cell centre is nearest to original pixel (x, y) (index coordinates)."""
    check_unit_pixels([(x, y)], image_size)
    return _unit(_nearest_cell(x, y, mapping, feature_size), mapping, role)


def _cell_centres(mapping: FeatureToImage, feature_size: tuple[int, int]) -> np.ndarray:
    """[h, w, 2] (x, y) original pixels of every cell centre."""
    ys, xs = torch.meshgrid(torch.arange(feature_size[0], dtype=torch.float64),
                            torch.arange(feature_size[1], dtype=torch.float64), indexing="ij")
    pixels = mapping.to_image(torch.stack([ys, xs], dim=-1)).numpy()
    return pixels[..., ::-1]


def _background_cells(detections: tuple[Detection, ...], heatmap: np.ndarray,
                      centres: np.ndarray) -> list[tuple[int, int]]:
    """Cells ordered from most to least background-like: far from every detected box (in
    pixels), then low object heat."""
    height, width = heatmap.shape[-2:]
    distance = np.full((height, width), np.inf)
    for det in detections:
        x1, y1, x2, y2 = det.box
        # Continuous box vs index-coordinate centres: the pixel centre i sits at i + 0.5.
        dx = np.maximum(np.maximum(x1 - (centres[..., 0] + 0.5), (centres[..., 0] + 0.5) - x2), 0)
        dy = np.maximum(np.maximum(y1 - (centres[..., 1] + 0.5), (centres[..., 1] + 0.5) - y2), 0)
        distance = np.minimum(distance, np.hypot(dx, dy))
    heat = heatmap.max(axis=0)
    if not detections:
        distance = np.zeros_like(heat)
    order = np.lexsort((heat.ravel(), -distance.ravel()))
    return [(int(i // width), int(i % width)) for i in order]


def border_margin(feature_size: tuple[int, int]) -> int:
    """Cells next to the map's border that auto units avoid (their filters read padding):
    2 cells, 1 on maps under 8 cells a side, 0 under 3."""
    side = min(feature_size)
    return 2 if side >= 8 else 1 if side >= 3 else 0


def min_separation(feature_size: tuple[int, int]) -> int:
    """Fewest cells (Chebyshev distance) between two auto units: 3, or a fifth of the
    shorter map side when that is larger, so panels never show nearly the same unit."""
    return max(3, min(feature_size) // 5)


def _inside(cell: tuple[int, int], feature_size: tuple[int, int], margin: int) -> tuple[int, int]:
    """`cell` moved the least to lie at least `margin` cells from the map's border."""
    return (int(np.clip(cell[0], margin, max(feature_size[0] - 1 - margin, margin))),
            int(np.clip(cell[1], margin, max(feature_size[1] - 1 - margin, margin))))


def _size_classes(detections: Sequence[Detection]) -> dict[int, str]:
    """Role of each detection (by index) from its size among this image's detections, as the
    paper's Fig. 6 groups units: the smaller third "small object", the larger third "large
    object", the rest "medium object" (two: small and large; one: "object")."""
    order = sorted(range(len(detections)), key=lambda k: detections[k].area)
    count = len(order)
    if count == 1:
        return {order[0]: "object"}
    roles = {}
    for rank, index in enumerate(order):
        if count == 2:
            roles[index] = ("small object", "large object")[rank]
        else:
            roles[index] = ("small object" if rank < count / 3 else
                            "large object" if rank >= 2 * count / 3 else "medium object")
    return roles


def _cells_in(box: tuple[float, float, float, float], centres: np.ndarray,
              heat: np.ndarray) -> list[tuple[int, int]]:
    """Cells whose centre lies in the continuous `box`, most object-like (heat) first."""
    x, y = centres[..., 0] + 0.5, centres[..., 1] + 0.5
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    rows, cols = np.nonzero(inside)
    order = np.argsort(-heat.max(axis=0)[rows, cols], kind="stable")
    return [(int(rows[i]), int(cols[i])) for i in order]


def _round_robin(groups: Sequence[Sequence]) -> list:
    """The first of every group, then the second of every group, ..."""
    return [group[i] for i in range(max(map(len, groups), default=0))
            for group in groups if i < len(group)]


def auto_units(count: int, detections: tuple[Detection, ...], heatmap: torch.Tensor,
               mapping: FeatureToImage, spread: np.ndarray | None = None) -> list[Unit]:
    """`count` telling units: the paper's Fig. 6 triplet (background, small object, large
    object), then the other detections, then more units on the objects, and only then more
    background.

    Rules (the same on generated scenes and photos):
    - objects are the network's own detections (their score threshold decides what counts:
      lower it to get units on weaker objects), grouped by size among this image's detections
      (small, medium, large thirds: `_size_classes`); a detection's first unit sits on the
      cell nearest its box's centre;
    - after the triplet every other detection gets a unit, taking the size classes in turn
      (small, medium, large, small, ...; best score first within a class); then further units
      go onto the objects (cells inside their boxes, most object-like first, the objects in
      turn); then, given `spread`, the units whose sampling tells most (widest, tightest,
      typical: `deformviz.visualize.headless_units`), so a photo without detections still
      shows different behaviours; and only then more background;
    - background units are the cells farthest from every detected box, lowest object heat
      first;
    - no unit lies within `border_margin` cells of the map's border (those filters read
      padding), and no two units lie within `min_separation` cells of each other (both are
      relaxed only when the map is too small to hold `count` units otherwise).

    Args:
        count: how many units (>= 1).
        detections: the network's detections in original pixels, best first.
        heatmap: [num_classes, h, w] object-centre probabilities (top map's cells).
        mapping: the top map's cells <-> original pixels.
        spread: [h, w] effective dilation of every top-layer unit (`sampling_spread`).
    Returns:
        distinct units in display order (background, small, medium, large objects, ...).
    """
    if count < 1:
        raise UnitError(f"auto needs at least 1 unit, got {count}")
    feature_size = (int(heatmap.shape[-2]), int(heatmap.shape[-1]))
    heat = heatmap.double().numpy()
    centres = _cell_centres(mapping, feature_size)
    margin = border_margin(feature_size)
    roles = _size_classes(detections)

    def on(index: int) -> tuple[tuple[int, int], str, Detection]:
        x1, y1, x2, y2 = detections[index].box
        cell = _nearest_cell((x1 + x2) / 2 - 0.5, (y1 + y2) / 2 - 0.5, mapping, feature_size)
        return cell, roles[index], detections[index]

    by_area = sorted(range(len(detections)), key=lambda k: detections[k].area)
    triplet = [by_area[-1], by_area[0]] if len(by_area) >= 2 else by_area
    objects = [on(k) for k in triplet]
    # The other detections, size classes in turn (detections come best score first).
    classes = [[k for k in range(len(detections)) if roles[k] == role and k not in triplet]
               for role in ("small object", "medium object", "large object", "object")]
    others = [on(k) for k in _round_robin(classes)]
    # More units on the objects: cells inside each box, the largest objects first, in turn.
    inside = _round_robin([[(cell, roles[k], detections[k])
                            for cell in _cells_in(detections[k].box, centres, heat)]
                           for k in reversed(by_area)])
    def on_object(unit: Unit) -> bool:  # index-coordinate centre in a continuous box
        x, y = unit.pixel[0] + 0.5, unit.pixel[1] + 0.5
        return any(d.box[0] <= x <= d.box[2] and d.box[1] <= y <= d.box[3] for d in detections)

    picks = ("widest sampling", "tightest sampling", "typical sampling", "spread")
    telling = [] if spread is None else [  # in the order headless_units picks them
        (unit.cell, unit.role, None)
        for unit in sorted(headless_units(count, spread, mapping),
                           key=lambda u: picks.index(u.role))
        if not on_object(unit)]
    backgrounds = _background_cells(detections, heat, centres)

    # Strictest rules first; relaxed (closer units, then border cells) only if too few fit.
    for separation in range(min_separation(feature_size), 0, -1):
        for edge in sorted({margin, 0}, reverse=True):
            usable = [c for c in backgrounds if c == _inside(c, feature_size, edge)]
            # The triplet's background unit is the most background-like cell that keeps
            # its distance from the two objects; then the objects, then more background.
            chosen = _pick([*objects], count, separation, edge, feature_size, mapping)
            chosen = _pick([(c, "background", None) for c in usable], min(count, len(chosen) + 1),
                           separation, edge, feature_size, mapping, chosen)
            rest = [*others, *inside, *telling, *((cell, "background", None) for cell in usable)]
            chosen = _pick(rest, count, separation, edge, feature_size, mapping, chosen)
            if len(chosen) == count:
                return sorted(chosen, key=lambda u: ROLE_ORDER.index(u.role))
    return sorted(chosen, key=lambda u: ROLE_ORDER.index(u.role))  # fewer cells than units


def _pick(priority, count: int, separation: int, margin: int, feature_size: tuple[int, int],
          mapping: FeatureToImage, chosen: list[Unit] | None = None) -> list[Unit]:
    """`chosen` extended from `priority` in order, up to `count` units, keeping every unit
    `separation` cells from the others and `margin` cells from the border."""
    chosen = list(chosen or [])
    for cell, role, det in priority:
        if len(chosen) == count:
            break
        if det is None and cell != _inside(cell, feature_size, margin):
            continue  # background near the border: skip (an object's unit moves inward)
        cell = _inside(cell, feature_size, margin)
        if all(max(abs(cell[0] - u.cell[0]), abs(cell[1] - u.cell[1])) >= separation
               for u in chosen):
            chosen.append(_unit(cell, mapping, role, det))
    return chosen


def grid_units(feature_size: tuple[int, int], mapping: FeatureToImage, step: int) -> list[Unit]:
    """Units on a regular grid every `step` cells, centred in the map, row-major."""
    if step < 1:
        raise UnitError(f"grid step must be at least 1 cell, got {step}")
    rows = range((feature_size[0] - 1) % step // 2, feature_size[0], step)
    cols = range((feature_size[1] - 1) % step // 2, feature_size[1], step)
    return [_unit((y, x), mapping, "grid") for y in rows for x in cols]
