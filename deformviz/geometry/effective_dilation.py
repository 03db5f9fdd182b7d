"""The paper's "effective dilation" of a deformable filter (Table 2).

For one filter: the mean distance between all adjacent pairs of its sampling locations, where
adjacent means neighbouring taps of the kernel grid, horizontally or vertically (12 pairs for
3x3). A rigid 3x3 filter with dilation d scores d; offsets that spread the taps apart raise it.
Distances are Euclidean, in the input feature cells of the layer (multiply by the stride for
pixels when the stride is the same along both axes).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .layers import DeformLayerGeometry

__all__ = ["filter_effective_dilation", "layer_effective_dilation"]


def _adjacent_pairs(kernel_size: tuple[int, int], device: torch.device) -> tuple[Tensor, Tensor]:
    """Tap indices (first, second) of all horizontally and vertically adjacent tap pairs."""
    kh, kw = kernel_size
    taps = torch.arange(kh * kw, device=device).reshape(kh, kw)
    first = torch.cat([taps[:, :-1].reshape(-1), taps[:-1, :].reshape(-1)])
    second = torch.cat([taps[:, 1:].reshape(-1), taps[1:, :].reshape(-1)])
    return first, second


def filter_effective_dilation(points: Tensor, kernel_size: tuple[int, int] = (3, 3)) -> Tensor:
    """Effective dilation of a batch of filters from their sampling locations.

    Args:
        points: [..., K, 2] (y, x) sampling locations of each filter, tap k = i * kw + j, in
            feature cells (or pixels: the result is in the same unit).
        kernel_size: (kh, kw), K = kh * kw; at least two taps.
    Returns:
        [...], the mean length of the kh * (kw - 1) + (kh - 1) * kw adjacent-tap segments.

    Example:
        >>> grid = DeformLayerGeometry.paper_res5().kernel_grid()
        >>> filter_effective_dilation(grid).item()
        2.0
    """
    kh, kw = kernel_size
    if points.shape[-2:] != (kh * kw, 2):
        raise ValueError(f"points must be [..., {kh * kw}, 2] for kernel {kernel_size}, got "
                         f"{tuple(points.shape)}")
    if kh * kw < 2:
        raise ValueError("a 1x1 kernel has no adjacent taps")
    first, second = _adjacent_pairs(kernel_size, points.device)
    difference = points[..., second, :] - points[..., first, :]
    return torch.linalg.vector_norm(difference, dim=-1).mean(-1)


def layer_effective_dilation(offset: Tensor, layer: DeformLayerGeometry,
                             offset_group: int | None = 0) -> Tensor:
    """Effective dilation of every output unit of a deformable layer, from its offsets.

    Only the in-filter geometry pn + dpn matters (the measure is translation invariant), so
    stride, padding and the map size play no role and nothing is interpolated.

    Args:
        offset: [2 * G * K, H, W] or [B, 2 * G * K, H, W], the layer's offsets in input cells.
        layer: the layer's geometry (kernel size, dilation, offset groups).
        offset_group: the group to measure, or None for the mean over the G groups of each
            group's effective dilation (the mean of distances, not the distance of the mean
            offsets, so each group is judged as the filter it is).
    Returns:
        [H, W] or [B, H, W] in input feature cells of the layer.
    """
    layer.check_offset(offset)
    groups, taps = layer.offset_groups, layer.taps
    # [..., G, K, 2, H, W] -> [..., G, H, W, K, 2]
    displacement = offset.unflatten(-3, (groups, taps, 2)).movedim((-4, -3), (-2, -1))
    if offset_group is not None:
        if not 0 <= offset_group < groups:
            raise ValueError(f"offset_group {offset_group} is out of range for {groups} groups")
        displacement = displacement[..., offset_group, :, :, :, :]
    grid = layer.kernel_grid(torch.promote_types(offset.dtype, torch.float32), offset.device)
    dilation = filter_effective_dilation(grid + displacement, layer.kernel_size)
    return dilation if offset_group is not None else dilation.mean(-3)
