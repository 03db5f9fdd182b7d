"""Reading a map at fractional positions, with the deformable convolution's border rule.

Deformable convolution samples its input bilinearly; the stacked-layer view of the paper
(Fig. 6) additionally needs a lower layer's offsets and mask *at the fractional positions*
where the layer above samples. Both use the same rule here, the DCNv2 one of torchvision and
mmcv (and of deformviz.ops):

- a position with y <= -1, y >= H, x <= -1 or x >= W reads 0;
- otherwise the four neighbours floor(y) + {0, 1} x floor(x) + {0, 1} are weighted by
  (1 - |dy|) (1 - |dx|), and neighbours outside the map read 0.

So values fade linearly to 0 across the one-cell band outside the map and are 0 beyond it.

This is the one reader of the geometry and the statistics (`kernel="grid_sample"`: the same
rule through torch's vectorised kernel, for every unit of every image). The operators'
reference (`deformviz.ops.reference`) keeps its own on purpose: it is the independent oracle
the compiled kernels are tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["inside_map", "read_bilinear"]


def inside_map(points: Tensor, size: tuple[int, int]) -> Tensor:
    """Whether bilinear sampling at `points` reads anything from a map of `size` cells.

    Args:
        points: [..., 2] (y, x) in the map's cells.
        size: (H, W) of the map.
    Returns:
        [...] bool, True where -1 < y < H and -1 < x < W (the DCNv2 rule).
    """
    y, x = points.unbind(-1)
    return (y > -1) & (y < size[0]) & (x > -1) & (x < size[1])


def read_bilinear(values: Tensor, points: Tensor, kernel: str = "gather") -> Tensor:
    """Bilinear interpolation of a multi-channel map at fractional points, zero-padded.

    Exact for a map that is linear in (y, x) wherever 0 <= y <= H - 1 and 0 <= x <= W - 1
    (all neighbours with non-zero weight inside the map).

    Args:
        values: [C, H, W] map, in whatever units its channels carry.
        points: [N, 2] (y, x) in the map's cells; any float dtype, any range.
        kernel: "gather" (the four neighbours summed here: figures and exports) or
            "grid_sample" (the same rule in torch's one vectorised kernel, `values` and
            `points` of one dtype: the statistics over every unit; equal up to rounding).
    Returns:
        [N, C], in the units of `values`, dtype of `values` promoted with `points`.
    """
    if values.dim() != 3 or points.dim() != 2 or points.shape[-1] != 2:
        raise ValueError(f"read_bilinear wants values [C, H, W] and points [N, 2], got "
                         f"{tuple(values.shape)} and {tuple(points.shape)}")
    if kernel not in ("gather", "grid_sample"):
        raise ValueError(f"kernel must be 'gather' or 'grid_sample', got {kernel!r}")
    channels, height, width = values.shape
    if kernel == "grid_sample" and height >= 2 and width >= 2:  # it cannot normalise 1 cell
        # align_corners=True puts -1 and 1 on the first and last cells' centres; zero padding
        # makes neighbours outside the map read 0: the DCNv2 rule.
        scale = points.new_tensor([2.0 / (width - 1), 2.0 / (height - 1)])
        grid = points.flip(-1) * scale - 1.0  # (x, y) in [-1, 1] over the cell centres
        sampled = F.grid_sample(values.unsqueeze(0), grid.view(1, 1, -1, 2), mode="bilinear",
                                padding_mode="zeros", align_corners=True)
        return sampled.view(channels, -1).T
    dtype = torch.promote_types(values.dtype, points.dtype)
    flat = values.to(dtype).reshape(channels, height * width)
    inside = inside_map(points, (height, width))
    # Outside points are moved to (0, 0) before flooring so indices stay small; their result
    # is zeroed at the end anyway.
    points = points.to(dtype)
    points = torch.where(inside.unsqueeze(-1), points, torch.zeros_like(points))
    low = points.floor()
    frac = points - low
    low = low.long()
    total = flat.new_zeros(points.shape[0], channels)
    for dy in (0, 1):
        for dx in (0, 1):
            row, col = low[:, 0] + dy, low[:, 1] + dx
            weight = (frac[:, 0] if dy else 1 - frac[:, 0]) * (frac[:, 1] if dx else 1 - frac[:, 1])
            valid = (row >= 0) & (row < height) & (col >= 0) & (col < width)
            index = (row.clamp(0, height - 1) * width + col.clamp(0, width - 1))
            total = total + flat[:, index].T * (weight * valid).unsqueeze(-1)
    return total * inside.unsqueeze(-1)
