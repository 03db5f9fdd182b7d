"""DCNv3 / DCNv4 offsets and modulation -> the deformable-convolution layout the geometry uses.

DCNv3 (InternImage) packs, per output cell, channels-last: offset [.., G * K * 2] with point
p = i * kh + j, i the x (column) index and the OUTER loop, each point an (x, y) pair; mask
[.., G * K] in the same point order. Its point p of output (y0, x0) samples

    y = y0 * s - pad + c + offset_scale * (j * dil - c + dy),    c = dil * (kh - 1) // 2

(likewise x with i), so offset_scale scales the regular grid as well as the offsets. The rest
of deformviz (`DeformLayerGeometry`) places tap k = a * kw + b (a the row) at
y0 * s - pad + a * dil + dy', channels-first, (dy, dx) pairs. The two agree exactly with

    dy' = offset_scale * dy + (offset_scale - 1) * (a * dil - c),

so a DCNv3 layer becomes a plain deformable convolution (same kernel, stride, padding,
dilation and G offset groups) whose offsets also carry the grid's scaling: with
offset_scale = 2 (InternImage-L/XL) zero DCNv3 offsets are a lattice twice as wide.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["dcnv3_as_deform", "deform_as_dcnv3"]


def _grid_shift(kernel: tuple[int, int], dilation: tuple[int, int], offset_scale: float,
                like: Tensor) -> Tensor:
    """(offset_scale - 1) * (tap - centre) as [kh, kw, 2] (y, x), input cells."""
    kh, kw = kernel
    dh, dw = dilation
    ys = torch.arange(kh, dtype=like.dtype, device=like.device) * dh - dh * (kh - 1) // 2
    xs = torch.arange(kw, dtype=like.dtype, device=like.device) * dw - dw * (kw - 1) // 2
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)
    return (offset_scale - 1.0) * grid


def dcnv3_as_deform(offset: Tensor, mask: Tensor, groups: int, kernel: tuple[int, int],
                    dilation: tuple[int, int], offset_scale: float) -> tuple[Tensor, Tensor]:
    """DCNv3's channels-last offset and mask -> `DeformLayerGeometry`'s layout.

    Args:
        offset: [N, Ho, Wo, G * K * 2], DCNv3's point order and (x, y) pairs, input cells.
        mask: [N, Ho, Wo, G * K], the modulation as the core used it (DCNv3: after the softmax
            over the K points of a group; DCNv4: raw).
        groups: G. kernel, dilation: (h, w). offset_scale: the layer's.
    Returns:
        offset [N, 2 * G * K, Ho, Wo], (dy, dx) per tap k = a * kw + b, group-major, relative
        to the unscaled lattice (see the module docstring); mask [N, G * K, Ho, Wo].

    Example:
        >>> offset = torch.zeros(1, 1, 1, 18)
        >>> offset[0, 0, 0, 2 * 1:2 * 1 + 2] = torch.tensor([0.5, -1.0])  # point 1: (x 0, y 1)
        >>> moved, _ = dcnv3_as_deform(offset, torch.ones(1, 1, 1, 9), 1, (3, 3), (1, 1), 1.0)
        >>> moved[0, :, 0, 0].view(9, 2)[3].tolist()  # tap 3 = row 1, column 0: (dy, dx)
        [-1.0, 0.5]
    """
    n, ho, wo, _ = offset.shape
    kh, kw = kernel
    # [N, Ho, Wo, G, i (x), j (y), (x, y)] -> [N, G, j (y), i (x), (y, x), Ho, Wo]
    points = offset.reshape(n, ho, wo, groups, kw, kh, 2).permute(0, 3, 5, 4, 6, 1, 2)
    points = points.flip(4) * offset_scale
    shift = _grid_shift(kernel, dilation, offset_scale, points)
    points = points + shift[None, None, :, :, :, None, None]
    weights = mask.reshape(n, ho, wo, groups, kw, kh).permute(0, 3, 5, 4, 1, 2)
    return (points.reshape(n, 2 * groups * kh * kw, ho, wo),
            weights.reshape(n, groups * kh * kw, ho, wo))


def deform_as_dcnv3(offset: Tensor, mask: Tensor, groups: int, kernel: tuple[int, int],
                    dilation: tuple[int, int], offset_scale: float) -> tuple[Tensor, Tensor]:
    """The inverse of `dcnv3_as_deform`: back to what the DCNv3 operator received."""
    n, _, ho, wo = offset.shape
    kh, kw = kernel
    points = offset.reshape(n, groups, kh, kw, 2, ho, wo)
    shift = _grid_shift(kernel, dilation, offset_scale, points)
    points = (points - shift[None, None, :, :, :, None, None]) / offset_scale
    raw = points.flip(4).permute(0, 5, 6, 1, 3, 2, 4).reshape(n, ho, wo, groups * kh * kw * 2)
    weights = mask.reshape(n, groups, kh, kw, ho, wo).permute(0, 4, 5, 1, 3, 2)
    return raw, weights.reshape(n, ho, wo, groups * kh * kw)
