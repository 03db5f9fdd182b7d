"""Telling units for networks without a detection head (`--auto N` on a loaded backbone).

The rule, in full:

1. Score every unit of the chain's top layer by its effective dilation (paper Table 2: the mean
   distance between adjacent taps of its filter, with the offsets it used, in model-input
   pixels), in the offset group the figure draws (group 0), so the roles agree with the
   effective dilations the figure and `--save-data` report.
2. Keep units away from the border: at least an eighth of the map's shorter side (and at least
   one cell) from every edge, so their filters read the image rather than padding. A map too
   small for that keeps every unit.
3. Pick, in this order: the widest-sampling unit (largest effective dilation), the
   tightest-sampling one (smallest), a typical one (closest to the median), then "spread" units
   that are as far as possible from those already picked. Every pick keeps a distance of at
   least a quarter of the map's shorter side (at least 2 cells) from the others; when no unit
   is that far, the distance is halved until one is.
4. Show them ordered from tightest to widest sampling.
"""

from __future__ import annotations

import numpy as np
import torch

from deformviz.errors import UnitError
from deformviz.geometry import DeformLayerGeometry, FeatureToImage

from .results import Unit

__all__ = ["sampling_spread", "headless_units"]


def sampling_spread(offset: torch.Tensor, geometry: DeformLayerGeometry,
                    input_stride: tuple[float, float], offset_group: int = 0) -> np.ndarray:
    """Effective dilation of every unit of a layer, in model-input pixels.

    Args:
        offset: [2 * G * K, h, w] the layer's offsets (input cells).
        geometry: its geometry.
        input_stride: (sy, sx) model-input pixels per input cell.
        offset_group: the group measured (the figures follow group 0).
    Returns:
        [h, w] float64.
    """
    groups, taps = geometry.offset_groups, geometry.taps
    if taps < 2:
        return np.ones(tuple(offset.shape[-2:]))
    kh, kw = geometry.kernel_size
    # [G, K, 2, h, w] -> [G, h, w, K, 2] tap positions, scaled to pixels per axis.
    positions = offset.double().unflatten(0, (groups, taps, 2)).permute(0, 3, 4, 1, 2)
    positions = (positions + geometry.kernel_grid(torch.float64)) * positions.new_tensor(input_stride)
    taps_grid = torch.arange(taps).reshape(kh, kw)
    first = torch.cat([taps_grid[:, :-1].reshape(-1), taps_grid[:-1, :].reshape(-1)])
    second = torch.cat([taps_grid[:, 1:].reshape(-1), taps_grid[1:, :].reshape(-1)])
    lengths = torch.linalg.vector_norm(positions[..., second, :] - positions[..., first, :], dim=-1)
    return lengths.mean(-1)[offset_group].numpy()


def _interior(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    margin = max(1, min(height, width) // 8)
    inside = np.zeros(shape, dtype=bool)
    if height > 2 * margin and width > 2 * margin:
        inside[margin:height - margin, margin:width - margin] = True
    else:
        inside[:] = True
    return inside


def headless_units(count: int, spread: np.ndarray, mapping: FeatureToImage) -> list[Unit]:
    """`count` distinct units by the rule of the module docstring.

    Args:
        count: how many (>= 1; at most the number of cells).
        spread: [h, w] effective dilation per unit (`sampling_spread`).
        mapping: the top layer's output cells <-> original pixels.
    Returns:
        units ordered from tightest to widest sampling; roles "widest sampling",
        "tightest sampling", "typical sampling" or "spread".
    """
    if count < 1:
        raise UnitError(f"auto={count}: needs at least 1 unit")
    height, width = spread.shape
    allowed = _interior((height, width))
    rows, cols = np.nonzero(allowed)
    cells = np.stack([rows, cols], axis=1)
    values = spread[rows, cols]
    order = {"widest sampling": np.argsort(-values, kind="stable"),
             "tightest sampling": np.argsort(values, kind="stable"),
             "typical sampling": np.argsort(np.abs(values - np.median(values)), kind="stable")}
    separation = max(2.0, min(height, width) / 4)
    chosen: list[tuple[int, str]] = []

    def distance_to_chosen() -> np.ndarray:
        if not chosen:
            return np.full(len(cells), np.inf)
        picked = cells[[index for index, _ in chosen]]
        return np.linalg.norm(cells[:, None, :] - picked[None, :, :], axis=-1).min(axis=1)

    roles = ["widest sampling", "tightest sampling", "typical sampling"]
    while len(chosen) < min(count, len(cells)):
        role = roles[len(chosen)] if len(chosen) < len(roles) else "spread"
        distance = distance_to_chosen()
        gap = separation
        while True:
            if role == "spread":
                candidates = np.argsort(-distance, kind="stable")[:1]
                candidates = candidates[distance[candidates] > 0]
            else:
                candidates = [i for i in order[role] if distance[i] >= gap]
            if len(candidates) or gap < 1:
                break
            gap /= 2
        if not len(candidates):
            break
        chosen.append((int(candidates[0]), role))

    units = []
    for index, role in sorted(chosen, key=lambda item: values[item[0]]):
        y, x = (int(v) for v in cells[index])
        centre = mapping.to_image(torch.tensor([float(y), float(x)], dtype=torch.float64))
        units.append(Unit((y, x), (float(centre[1]), float(centre[0])), role))
    return units
