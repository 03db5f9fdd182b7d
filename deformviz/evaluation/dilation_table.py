"""The paper's Table 2: effective dilation of each deformable layer, grouped by the size of
the object that contains the unit.

Size classes follow the paper's thresholds (small < 96^2, large > 224^2 pixels of box area, for
images whose shorter side is about 600 px), scaled to the evaluation images: a threshold t
becomes t * (image side / 600): at 384 x 384, the bundled model's training size, small < 61^2 and
large > 143^2 pixels of area; at 256 x 256, small < 41^2 and large > 96^2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

CATEGORIES = ("small", "medium", "large", "background")
PAPER_SIDE = 600.0


def size_thresholds(image_side: float) -> tuple[float, float]:
    """(small-below, large-above) box areas in pixels for images of `image_side` pixels."""
    scale = image_side / PAPER_SIDE
    return (96 * scale) ** 2, (224 * scale) ** 2


def unit_categories(unit_pixels: Tensor, boxes: Tensor, image_side: float) -> Tensor:
    """Category index (into CATEGORIES) of each unit.

    Args:
        unit_pixels: [U, 2] (x, y) unit centres, continuous image pixels.
        boxes: [N, 4] ground-truth boxes of the image, continuous pixels.
    Returns:
        [U] int64. A unit inside several boxes takes the smallest (the most specific object).
    """
    small, large = size_thresholds(image_side)
    categories = torch.full((len(unit_pixels),), CATEGORIES.index("background"), dtype=torch.long)
    if len(boxes) == 0:
        return categories
    x, y = unit_pixels[:, :1], unit_pixels[:, 1:]
    inside = (x >= boxes[:, 0]) & (x < boxes[:, 2]) & (y >= boxes[:, 1]) & (y < boxes[:, 3])
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(1).expand(len(unit_pixels), -1)
    areas = torch.where(inside, areas, torch.full_like(areas, math.inf))
    smallest = areas.min(1).values
    categories[smallest < small] = CATEGORIES.index("small")
    categories[(smallest >= small) & (smallest <= large)] = CATEGORIES.index("medium")
    categories[(smallest > large) & torch.isfinite(smallest)] = CATEGORIES.index("large")
    return categories


def summarize(values: list[Tensor], categories: list[Tensor]) -> dict[str, dict[str, float]]:
    """Mean, std and count of per-unit values per category."""
    all_values, all_categories = torch.cat(values), torch.cat(categories)
    table = {}
    for index, name in enumerate(CATEGORIES):
        chosen = all_values[all_categories == index].double()
        table[name] = {"mean": float(chosen.mean()) if len(chosen) else float("nan"),
                       "std": float(chosen.std()) if len(chosen) > 1 else float("nan"),
                       "units": int(len(chosen))}
    return table
