"""Which activation units to show: requested pixels, the paper's Fig. 6 triplet, or a grid.

Units are cells of the top deformable layer's output map. A requested pixel picks the cell
whose centre is nearest to it. `auto_units` picks, from the network's own detections, one unit
on background, one on a small object and one on a large object (like the triplets of the
paper's Fig. 6), falling back to heat-map peaks when there are too few detections.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deformviz.errors import UnitError
from deformviz.geometry import FeatureToImage

from .results import Detection, Unit

__all__ = ["check_unit_pixels", "unit_at", "auto_units", "grid_units", "ROLE_ORDER"]

# Display order of the roles, the paper's left-to-right order first.
ROLE_ORDER = ("background", "small object", "large object", "object", "peak", "requested", "grid")


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
    pixels), then low object heat; cells on the map's border come last (their filters read
    padding)."""
    height, width = heatmap.shape[-2:]
    distance = np.full((height, width), np.inf)
    for det in detections:
        x1, y1, x2, y2 = det.box
        # Continuous box vs index-coordinate centres: the pixel centre i sits at i + 0.5.
        dx = np.maximum(np.maximum(x1 - (centres[..., 0] + 0.5), (centres[..., 0] + 0.5) - x2), 0)
        dy = np.maximum(np.maximum(y1 - (centres[..., 1] + 0.5), (centres[..., 1] + 0.5) - y2), 0)
        distance = np.minimum(distance, np.hypot(dx, dy))
    heat = heatmap.max(axis=0)
    border = np.zeros((height, width), dtype=bool)
    if height > 2 and width > 2:
        border[[0, -1], :] = border[:, [0, -1]] = True
    if not detections:
        distance = np.zeros_like(heat)
    order = np.lexsort((heat.ravel(), -distance.ravel(), border.ravel()))
    return [(int(i // width), int(i % width)) for i in order]


def auto_units(count: int, detections: tuple[Detection, ...], heatmap: torch.Tensor,
               mapping: FeatureToImage) -> list[Unit]:
    """`count` telling units: background, small object, large object (the paper's Fig. 6
    triplet), then further detections by score, heat-map peaks and background cells.

    Args:
        count: how many units (>= 1).
        detections: the network's detections in original pixels, best first.
        heatmap: [num_classes, h, w] object-centre probabilities (top map's cells).
        mapping: the top map's cells <-> original pixels.
    Returns:
        distinct units in display order (background, small, large, then the rest).
    """
    if count < 1:
        raise UnitError(f"--auto needs at least 1 unit, got {count}")
    feature_size = (int(heatmap.shape[-2]), int(heatmap.shape[-1]))
    heat = heatmap.double().numpy()
    centres = _cell_centres(mapping, feature_size)

    def on(det: Detection, role: str) -> tuple[tuple[int, int], str, Detection]:
        x1, y1, x2, y2 = det.box
        cell = _nearest_cell((x1 + x2) / 2 - 0.5, (y1 + y2) / 2 - 0.5, mapping, feature_size)
        return cell, role, det

    by_area = sorted(detections, key=lambda d: d.area)
    priority: list[tuple[tuple[int, int], str, Detection | None]] = []
    if len(by_area) >= 2:
        priority += [on(by_area[-1], "large object"), on(by_area[0], "small object")]
    elif by_area:
        priority.append(on(by_area[0], "object"))
    backgrounds = _background_cells(detections, heat, centres)
    priority.append((backgrounds[0], "background", None))
    priority += [on(d, "object") for d in detections]
    peaks = np.argsort(-heat.max(axis=0).ravel(), kind="stable")
    priority += [((int(i // feature_size[1]), int(i % feature_size[1])), "peak", None)
                 for i in peaks]
    priority += [(cell, "background", None) for cell in backgrounds[1:]]

    chosen: dict[tuple[int, int], Unit] = {}
    for cell, role, det in priority:
        if len(chosen) == count:
            break
        if cell not in chosen:
            chosen[cell] = _unit(cell, mapping, role, det)
    units = list(chosen.values())
    return sorted(units, key=lambda u: ROLE_ORDER.index(u.role))  # stable: ties keep priority


def grid_units(feature_size: tuple[int, int], mapping: FeatureToImage, step: int) -> list[Unit]:
    """Units on a regular grid every `step` cells, centred in the map, row-major."""
    if step < 1:
        raise UnitError(f"grid step must be at least 1 cell, got {step}")
    rows = range((feature_size[0] - 1) % step // 2, feature_size[0], step)
    cols = range((feature_size[1] - 1) % step // 2, feature_size[1], step)
    return [_unit((y, x), mapping, "grid") for y in rows for x in cols]
