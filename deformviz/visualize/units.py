"""Which activation units to show: requested pixels, the paper's Fig. 6 triplet, or a grid.

Units are cells of the top deformable layer's output map. A requested pixel picks the cell
whose centre is nearest to it. `auto_units` picks, from the network's own detections, one unit
on background, one on a small object and one on a large object (like the triplets of the
paper's Fig. 6), then more detections and more background; units keep away from the map's
border and from each other (see `auto_units` for the rules).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deformviz.errors import UnitError
from deformviz.geometry import FeatureToImage

from .results import Detection, Unit

__all__ = ["check_unit_pixels", "unit_at", "auto_units", "grid_units", "ROLE_ORDER",
           "border_margin", "min_separation"]

# Display order of the roles, the paper's left-to-right order first.
ROLE_ORDER = ("background", "small object", "large object", "object", "requested", "grid")


def check_unit_pixels(pixels: list[tuple[float, float]], image_size: tuple[int, int]) -> None:
    """Raise UnitError unless every (x, y) lies in the image: 0 <= x < W, 0 <= y < H."""
    height, width = image_size
    for x, y in pixels:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise UnitError(f"unit ({x}, {y}) is not a pair of finite numbers")
        if not (0 <= x < width and 0 <= y < height):
            raise UnitError(f"unit ({x:g}, {y:g}) is outside the image ({width}x{height} pixels: "
                            f"x must be in [0, {width}), y in [0, {height}))")


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


def auto_units(count: int, detections: tuple[Detection, ...], heatmap: torch.Tensor,
               mapping: FeatureToImage) -> list[Unit]:
    """`count` telling units: the paper's Fig. 6 triplet (background, small object, large
    object), then further detections by score, then more background.

    Rules (the same on generated scenes and photos):
    - objects are the network's own detections (their score threshold decides what counts:
      lower it to get units on weaker objects); a unit sits on the cell nearest its box's
      centre;
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
    Returns:
        distinct units in display order (background, small, large, then the rest).
    """
    if count < 1:
        raise UnitError(f"auto needs at least 1 unit, got {count}")
    feature_size = (int(heatmap.shape[-2]), int(heatmap.shape[-1]))
    heat = heatmap.double().numpy()
    centres = _cell_centres(mapping, feature_size)
    margin = border_margin(feature_size)

    def on(det: Detection, role: str) -> tuple[tuple[int, int], str, Detection]:
        x1, y1, x2, y2 = det.box
        cell = _nearest_cell((x1 + x2) / 2 - 0.5, (y1 + y2) / 2 - 0.5, mapping, feature_size)
        return cell, role, det

    by_area = sorted(detections, key=lambda d: d.area)
    objects: list[tuple[tuple[int, int], str, Detection | None]] = []
    if len(by_area) >= 2:
        objects += [on(by_area[-1], "large object"), on(by_area[0], "small object")]
    elif by_area:
        objects.append(on(by_area[0], "object"))
    backgrounds = _background_cells(detections, heat, centres)

    # Strictest rules first; relaxed (closer units, then border cells) only if too few fit.
    for separation in range(min_separation(feature_size), 0, -1):
        for edge in sorted({margin, 0}, reverse=True):
            usable = [c for c in backgrounds if c == _inside(c, feature_size, edge)]
            # The triplet's background unit is the most background-like cell that keeps
            # its distance from the two objects; then further objects, then more background.
            chosen = _pick([*objects], count, separation, edge, feature_size, mapping)
            chosen = _pick([(c, "background", None) for c in usable], min(count, len(chosen) + 1),
                           separation, edge, feature_size, mapping, chosen)
            rest = [*(on(d, "object") for d in detections),
                    *((cell, "background", None) for cell in usable)]
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
