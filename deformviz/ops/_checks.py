"""Argument checks shared by both backends, so a mistake gets the same message naming the
argument whichever implementation runs. (The C++ library keeps its own checks as a last guard
for callers of torch.ops.deformviz directly.)

Every argument must have the input's dtype, except under torch.autocast, where the operators
take any mix of floating dtypes and compute in float32 (see cuda_ext/csrc/autocast.cpp).
float16 and bfloat16 are supported on the CPU and on CUDA."""

from __future__ import annotations

import torch
from torch import Tensor

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair, or a ValueError naming `name`."""
    pair_ = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair_) != 2 or not all(isinstance(v, int) for v in pair_):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair_  # type: ignore[return-value]


def autocast_active(input: Tensor) -> bool:
    """Whether torch.autocast is on for the input's device type."""
    try:
        return torch.is_autocast_enabled(input.device.type)
    except RuntimeError:  # a device type autocast does not know
        return False


def check_tensor(op: str, name: str, tensor: Tensor, dims: int, like: Tensor | None,
                 mixed_dtypes: bool = False) -> None:
    """`tensor` has `dims` dimensions, a supported floating dtype, and the device and (unless
    `mixed_dtypes`) the dtype of `like` (when given)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(tensor).__name__}")
    if tensor.dim() != dims:
        raise ValueError(f"{op}: {name} must be {dims}-D, got shape {tuple(tensor.shape)}")
    if tensor.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{op}: {name} has unsupported dtype {tensor.dtype}")
    if like is not None and tensor.device != like.device:
        raise ValueError(f"{op}: {name} is on {tensor.device} but input is on {like.device}")
    if like is not None and tensor.dtype != like.dtype and not mixed_dtypes:
        raise TypeError(f"{op}: {name} has dtype {tensor.dtype} but input has {like.dtype}")


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - (dilation * (kernel - 1) + 1)) // stride + 1


def check_deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None,
                        stride: tuple[int, int], padding: tuple[int, int],
                        dilation: tuple[int, int], mask: Tensor | None) -> None:
    op = "deform_conv2d"
    mixed = autocast_active(input)
    check_tensor(op, "input", input, 4, None)
    check_tensor(op, "weight", weight, 4, input, mixed)
    check_tensor(op, "offset", offset, 4, input, mixed)
    if min(stride) <= 0 or min(dilation) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding non-negative, "
                         f"got stride={stride}, padding={padding}, dilation={dilation}")
    batch, channels, height, width = input.shape
    out_channels, in_per_group, kernel_h, kernel_w = weight.shape
    if kernel_h == 0 or kernel_w == 0:
        raise ValueError(f"{op}: weight must have a kernel of at least 1x1, got shape "
                         f"{tuple(weight.shape)}")
    groups = 1 if channels == 0 else channels // max(in_per_group, 1)
    fits = in_per_group == 0 if channels == 0 else in_per_group > 0 and channels % in_per_group == 0
    if not fits or out_channels % groups:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} does not fit input with "
                         f"{channels} channels (weight.size(1) must divide it into groups that "
                         "also divide weight.size(0))")
    extent = (dilation[0] * (kernel_h - 1) + 1, dilation[1] * (kernel_w - 1) + 1)
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    if padded[0] < extent[0] or padded[1] < extent[1]:
        # As for F.conv2d. An empty map with enough padding is fine: every sample reads 0.
        raise ValueError(f"{op}: input of {height}x{width} padded to {padded[0]}x{padded[1]} is "
                         f"smaller than the kernel's extent {extent[0]}x{extent[1]}")
    out_h = conv_output_size(height, kernel_h, stride[0], padding[0], dilation[0])
    out_w = conv_output_size(width, kernel_w, stride[1], padding[1], dilation[1])
    taps = kernel_h * kernel_w
    if offset.shape[1] == 0 or offset.shape[1] % (2 * taps):
        raise ValueError(f"{op}: offset.shape[1] = {offset.shape[1]} must be a positive multiple "
                         f"of 2 * kernel_h * kernel_w = {2 * taps}")
    offset_groups = offset.shape[1] // (2 * taps)
    if channels % offset_groups:
        raise ValueError(f"{op}: offset implies {offset_groups} offset groups, which must divide "
                         f"the input's {channels} channels")
    expected = (batch, offset.shape[1], out_h, out_w)
    if tuple(offset.shape) != expected:
        raise ValueError(f"{op}: offset must have shape {expected}, got {tuple(offset.shape)}")
    if mask is not None:
        check_tensor(op, "mask", mask, 4, input, mixed)
        expected = (batch, offset_groups * taps, out_h, out_w)
        if tuple(mask.shape) != expected:
            raise ValueError(f"{op}: mask must have shape {expected}, got {tuple(mask.shape)}")
    if bias is not None:
        check_tensor(op, "bias", bias, 1, input, mixed)
        if bias.shape[0] != out_channels:
            raise ValueError(f"{op}: bias must have shape ({out_channels},), got {tuple(bias.shape)}")


def check_deform_roi_pool(input: Tensor, rois: Tensor, offset: Tensor | None,
                          output_size: tuple[int, int], spatial_scale: float,
                          sampling_ratio: int) -> None:
    op = "deform_roi_pool"
    mixed = autocast_active(input)
    check_tensor(op, "input", input, 4, None)
    check_tensor(op, "rois", rois, 2, input, mixed)
    if rois.shape[1] != 5:
        raise ValueError(f"{op}: rois must have shape [K, 5] = (batch index, x1, y1, x2, y2), "
                         f"got {tuple(rois.shape)}")
    if min(output_size) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {output_size}")
    if not spatial_scale > 0:
        raise ValueError(f"{op}: spatial_scale must be positive, got {spatial_scale}")
    if sampling_ratio < 0:
        raise ValueError(f"{op}: sampling_ratio must be >= 0, got {sampling_ratio}")
    if offset is not None:
        check_tensor(op, "offset", offset, 4, input, mixed)
        expected = (rois.shape[0], 2, *output_size)
        if tuple(offset.shape) != expected:
            raise ValueError(f"{op}: offset must have shape {expected}, got {tuple(offset.shape)}")


def run_upcast(fn, input: Tensor, *args):
    """`fn(input, *args)` with autocast off and every floating tensor in float32 (float64 when
    the input is float64), returned in the input's dtype: what the compiled autocast kernels do,
    for the reference implementation."""
    dtype = torch.float64 if input.dtype == torch.float64 else torch.float32

    def up(value):
        return value.to(dtype) if isinstance(value, Tensor) and value.is_floating_point() else value

    with torch.autocast(input.device.type, enabled=False):
        return fn(up(input), *map(up, args)).to(input.dtype)


def check_dcnv3(input: Tensor, offset: Tensor, mask: Tensor, kernel: tuple[int, int],
                stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
                groups: int, offset_scale: float) -> None:
    op = "dcnv3"
    mixed = autocast_active(input)
    check_tensor(op, "input", input, 4, None)
    check_tensor(op, "offset", offset, 4, input, mixed)
    check_tensor(op, "mask", mask, 4, input, mixed)
    if min(kernel) <= 0 or min(stride) <= 0 or min(dilation) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive and padding "
                         f"non-negative, got kernel_size={kernel}, stride={stride}, "
                         f"padding={padding}, dilation={dilation}")
    batch, height, width, channels = input.shape
    if not isinstance(groups, int) or groups <= 0 or channels % groups:
        raise ValueError(f"{op}: groups={groups!r} must be a positive int dividing the input's "
                         f"{channels} channels (input is [N, H, W, C], channels last)")
    if not isinstance(offset_scale, (int, float)) or not abs(offset_scale) < float("inf"):
        raise ValueError(f"{op}: offset_scale must be a finite number, got {offset_scale!r}")
    extent = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    if padded[0] < extent[0] or padded[1] < extent[1]:
        raise ValueError(f"{op}: input of {height}x{width} padded to {padded[0]}x{padded[1]} is "
                         f"smaller than the kernel's extent {extent[0]}x{extent[1]}")
    out_h = conv_output_size(height, kernel[0], stride[0], padding[0], dilation[0])
    out_w = conv_output_size(width, kernel[1], stride[1], padding[1], dilation[1])
    taps = kernel[0] * kernel[1]
    expected = (batch, out_h, out_w, groups * taps * 2)
    if tuple(offset.shape) != expected:
        raise ValueError(f"{op}: offset must have shape {expected} = [N, Ho, Wo, groups * K * 2], "
                         f"got {tuple(offset.shape)}")
    expected = (batch, out_h, out_w, groups * taps)
    if tuple(mask.shape) != expected:
        raise ValueError(f"{op}: mask must have shape {expected} = [N, Ho, Wo, groups * K], got "
                         f"{tuple(mask.shape)}")
