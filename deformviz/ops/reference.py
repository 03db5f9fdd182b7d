"""Slow, obviously-correct pure-PyTorch versions of deformviz's operators.

They are the float64 oracle of the tests and the fallback when the compiled library cannot be
loaded. Written for clarity, not speed: every sampling position is materialised, and autograd
provides the gradients. The border rules and the floor-based bilinear weights are the same as the
kernels' (cuda_ext/include/deformviz/bilinear.h), so values and gradients agree everywhere,
including at integer positions.

Its bilinear reading stays its own, separate from `deformviz.geometry.read_bilinear` (the one
reader of the geometry and the statistics) on purpose: an oracle written independently of the
code it checks. Do not merge the two.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["deform_conv2d", "deform_roi_pool"]


def _gather(planes: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """planes [N, C, H, W], rows/cols [N, S] integer positions inside the planes -> [N, C, S]."""
    height, width = planes.shape[-2:]
    index = (rows * width + cols).long().unsqueeze(1).expand(-1, planes.shape[1], -1)
    return planes.flatten(2).gather(2, index)


def _bilinear(planes: Tensor, y: Tensor, x: Tensor, y0: Tensor, x0: Tensor, y1: Tensor,
              x1: Tensor) -> Tensor:
    """Interpolates planes [N, C, H, W] at (y, x) [N, S] between the integer rows y0/y1 and
    columns x0/x1 [N, S]; neighbours outside the plane read 0. Returns [N, C, S]."""
    height, width = planes.shape[-2:]
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    total = planes.new_zeros(planes.shape[0], planes.shape[1], y.shape[1])
    if height == 0 or width == 0:  # nothing to read: every sample is 0
        return total
    for rows, cols, weight in ((y0, x0, hy * hx), (y0, x1, hy * lx), (y1, x0, ly * hx),
                               (y1, x1, ly * lx)):
        valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        values = _gather(planes, rows.clamp(0, height - 1), cols.clamp(0, width - 1))
        weight = (weight * valid).unsqueeze(1)
        # A term of weight 0 contributes 0 even when its value is Inf or NaN (0 x Inf would be
        # NaN), as in the kernels; it is still multiplied, so autograd keeps d(weight)/d(position).
        values = torch.where((weight == 0) & ~values.isfinite(), 0, values)
        total = total + values * weight
    return total


def bilinear_zero_padded(planes: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Deformable-convolution sampling: 0 at y <= -1, y >= H, x <= -1 or x >= W.

    Args:
        planes: [N, C, H, W].
        y, x: [N, S] positions in the planes' cells.
    Returns:
        [N, C, S].
    """
    height, width = planes.shape[-2:]
    inside = (y > -1) & (y < height) & (x > -1) & (x < width)
    y = torch.where(inside, y, torch.zeros_like(y))
    x = torch.where(inside, x, torch.zeros_like(x))
    y0, x0 = y.floor(), x.floor()
    values = _bilinear(planes, y, x, y0, x0, y0 + 1, x0 + 1)
    return values * inside.unsqueeze(1)


def bilinear_roi_align(planes: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """RoIAlign sampling: 0 outside [-1, H] x [-1, W]; positions are clamped into the plane.

    Args:
        planes: [N, C, H, W].
        y, x: [N, S] positions in the planes' cells.
    Returns:
        [N, C, S].
    """
    height, width = planes.shape[-2:]
    inside = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)

    def clamp(v: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
        # torch.where (not clamp) so the gradient is exactly 0 wherever the kernel clamps.
        v = torch.where(v > 0, v, torch.zeros_like(v))
        low = v.floor()
        at_edge = low >= size - 1
        last = torch.full_like(v, size - 1)
        return torch.where(at_edge, last, v), torch.where(at_edge, last, low), torch.where(at_edge, last, low + 1)

    y, y0, y1 = clamp(y, height)
    x, x0, x1 = clamp(x, width)
    return _bilinear(planes, y, x, y0, x0, y1, x1) * inside.unsqueeze(1)


def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0),
                  dilation: tuple[int, int] = (1, 1), mask: Tensor | None = None) -> Tensor:
    """Reference deformable convolution (DCNv1, or DCNv2 with `mask`).

    Args:
        input: [B, C, H, W].
        offset: [B, 2 * G * kh * kw, Ho, Wo], (dy, dx) per tap k = i * kw + j, in input cells.
        weight: [Cout, C / groups, kh, kw].
        bias: [Cout] or None.
        mask: [B, G * kh * kw, Ho, Wo] or None.
    Returns:
        [B, Cout, Ho, Wo].
    """
    batch, channels, height, width = input.shape
    out_channels, in_per_group, kernel_h, kernel_w = weight.shape
    taps = kernel_h * kernel_w
    groups = channels // in_per_group if channels else 1
    offset_groups = offset.shape[1] // (2 * taps)
    out_h, out_w = offset.shape[-2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation

    def arange(n: int) -> Tensor:
        return torch.arange(n, device=input.device, dtype=input.dtype)

    # p0 + pn for every tap k and output position: [K, Ho, 1] and [K, 1, Wo].
    tap_y = (arange(kernel_h) * dh).repeat_interleave(kernel_w)
    tap_x = (arange(kernel_w) * dw).repeat(kernel_h)
    grid_y = (arange(out_h) * sh - ph)[None, :, None] + tap_y[:, None, None]
    grid_x = (arange(out_w) * sw - pw)[None, None, :] + tap_x[:, None, None]
    dy_dx = offset.reshape(batch, offset_groups, taps, 2, out_h, out_w)
    y = grid_y + dy_dx[:, :, :, 0]  # [B, G, K, Ho, Wo]
    x = grid_x + dy_dx[:, :, :, 1]
    planes = input.reshape(batch * offset_groups, channels // offset_groups, height, width)
    samples = bilinear_zero_padded(planes, y.reshape(batch * offset_groups, taps * out_h * out_w),
                                   x.reshape(batch * offset_groups, taps * out_h * out_w))
    samples = samples.reshape(batch, offset_groups, channels // offset_groups, taps, out_h, out_w)
    if mask is not None:
        samples = samples * mask.reshape(batch, offset_groups, 1, taps, out_h, out_w)
    columns = samples.reshape(batch, groups, in_per_group, taps, out_h, out_w)
    kernels = weight.reshape(groups, out_channels // groups, in_per_group, taps)
    output = torch.einsum("bgckhw,gock->bgohw", columns, kernels)
    output = output.reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        output = output + bias.reshape(1, -1, 1, 1)
    return output


MAX_ADAPTIVE_SAMPLES_PER_SIDE = 128  # kMaxAdaptiveSamplesPerSide in deform_roi_pool.h


def _adaptive_grid(bin_size: float) -> int:
    """Samples per bin side for sampling_ratio 0: ceil(bin size), none for an empty, inverted or
    non-finite bin, at most MAX_ADAPTIVE_SAMPLES_PER_SIDE."""
    if not math.isfinite(bin_size) or bin_size <= 0:
        return 0
    return min(math.ceil(bin_size), MAX_ADAPTIVE_SAMPLES_PER_SIDE)


def deform_roi_pool(input: Tensor, rois: Tensor, offset: Tensor | None, output_size: tuple[int, int],
                    spatial_scale: float = 1.0, sampling_ratio: int = 0,
                    gamma: float = 0.1) -> Tensor:
    """Reference deformable RoI pooling (mmcv's aligned convention), one RoI at a time.

    Args:
        input: [B, C, H, W] features.
        rois: [K, 5] = (batch index, x1, y1, x2, y2) in image pixels.
        offset: [K, 2, ph, pw] normalised offsets, channel 0 = x, 1 = y; or None.
        output_size: (ph, pw) bins.
    Returns:
        [K, C, ph, pw].
    """
    pooled_h, pooled_w = output_size
    num_rois, channels = rois.shape[0], input.shape[1]
    outputs = []
    for r in range(num_rois):
        batch_value = float(rois[r, 0])
        if not 0 <= batch_value < input.shape[0]:  # also NaN
            outputs.append(input.new_zeros(channels, pooled_h, pooled_w))
            continue
        batch_index = int(batch_value)
        x1, y1, x2, y2 = (rois[r, 1:] * spatial_scale - 0.5).unbind()
        roi_w, roi_h = x2 - x1, y2 - y1
        bin_w, bin_h = roi_w / pooled_w, roi_h / pooled_h
        grid_h = sampling_ratio or _adaptive_grid(float(bin_h))
        grid_w = sampling_ratio or _adaptive_grid(float(bin_w))
        if grid_h * grid_w == 0:
            outputs.append(input.new_zeros(channels, pooled_h, pooled_w))
            continue
        rows = torch.arange(pooled_h, dtype=input.dtype, device=input.device)
        cols = torch.arange(pooled_w, dtype=input.dtype, device=input.device)
        start_y = (y1 + rows * bin_h)[:, None].expand(pooled_h, pooled_w)
        start_x = (x1 + cols * bin_w)[None, :].expand(pooled_h, pooled_w)
        if offset is not None:
            start_x = start_x + gamma * roi_w * offset[r, 0]
            start_y = start_y + gamma * roi_h * offset[r, 1]
        sub_y = (torch.arange(grid_h, dtype=input.dtype, device=input.device) + 0.5) * bin_h / grid_h
        sub_x = (torch.arange(grid_w, dtype=input.dtype, device=input.device) + 0.5) * bin_w / grid_w
        # Samples [ph, pw, grid_h, grid_w] at the centres of each bin's sub-bins.
        y = (start_y[:, :, None, None] + sub_y[None, None, :, None]).expand(-1, -1, grid_h, grid_w)
        x = (start_x[:, :, None, None] + sub_x[None, None, None, :]).expand(-1, -1, grid_h, grid_w)
        values = bilinear_roi_align(input[batch_index : batch_index + 1], y.reshape(1, -1),
                                    x.reshape(1, -1))
        outputs.append(values.reshape(channels, pooled_h, pooled_w, grid_h * grid_w).mean(-1))
    if not outputs:
        return input.new_zeros(0, channels, pooled_h, pooled_w)
    return torch.stack(outputs)
