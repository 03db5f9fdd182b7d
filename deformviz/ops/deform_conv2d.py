"""Deformable convolution: y(p0) = sum_k w_k * m_k * x(p0 + p_k + dp_k) (Dai et al. 2017;
the modulation m_k is DCNv2's, Zhu et al. 2019)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import reference
from ._checks import autocast_active, check_deform_conv2d, pair, run_upcast
from ._extension import operator_backend, warn_reference_fallback
from .offset_hooks import OffsetHooks

__all__ = ["deform_conv2d", "DeformConv2d", "DeformConv2dPack"]


def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                  dilation: int | tuple[int, int] = 1, mask: Tensor | None = None) -> Tensor:
    """Deformable 2-D convolution, with torchvision's argument order and layouts.

    Args:
        input (Tensor[B, C, H, W]): input features.
        offset (Tensor[B, 2 * offset_groups * kh * kw, Ho, Wo]): sampling offsets in input
            cells; for offset group g and tap k = i * kw + j, channel g * 2 * kh * kw + 2k is dy
            and the next one dx. offset_groups is inferred from the channel count.
        weight (Tensor[Cout, C / groups, kh, kw]): convolution weights; groups is inferred.
        bias (Tensor[Cout], optional): added to every output position.
        stride, padding, dilation: as for `torch.nn.functional.conv2d`.
        mask (Tensor[B, offset_groups * kh * kw, Ho, Wo], optional): modulation, a raw
            multiplier of each sample (apply the sigmoid before). None is DCNv1.

    Returns:
        Tensor[B, Cout, Ho, Wo]. A sample at y <= -1, y >= H, x <= -1 or x >= W reads 0, and
        out-of-image neighbours of a sample read 0 (the DCNv2 / torchvision border rule); they
        are skipped, not multiplied by 0, so Inf/NaN spread only where bilinear sampling takes
        them. An empty map with enough padding gives the bias.

    Dtypes: float64, float32, float16, bfloat16 (half types computed in float32), all arguments
    in the input's dtype. Under torch.autocast any mix is accepted: the operator computes in
    float32 and returns the input's dtype, as torchvision's does.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    check_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)
    if operator_backend(input.device) == "reference":
        warn_reference_fallback(input.device)
        if autocast_active(input):
            return run_upcast(reference.deform_conv2d, input, offset, weight, bias, stride,
                              padding, dilation, mask)
        return reference.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)
    return torch.ops.deformviz.deform_conv2d(input, weight, offset, mask, bias, *stride, *padding,
                                             *dilation)


class DeformConv2d(OffsetHooks, nn.Module):
    """A deformable convolution that takes its offsets (and mask) from the caller, as
    torchvision's `DeformConv2d` does: `layer(input, offset, mask=None)`.

    The offset groups are read from the offset's channels. `register_offset_hook(fn)` calls
    `fn(module, offset=..., mask=...)` on every forward pass with the exact tensors the operator
    used. For a layer that predicts its own offsets see `DeformConv2dPack`.

    Shape:
        input [B, in_channels, H, W], offset [B, 2 * G * kh * kw, Ho, Wo] (input cells, (dy, dx)
        per tap), mask [B, G * kh * kw, Ho, Wo] or None -> output [B, out_channels, Ho, Wo].

    Example:
        >>> layer = DeformConv2d(8, 8, 3, padding=1)
        >>> layer(torch.randn(1, 8, 16, 16), torch.zeros(1, 18, 16, 16)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        self._init_offset_hooks()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels={in_channels} and out_channels={out_channels} must be "
                             f"divisible by groups={groups}")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.dilation = pair(dilation, "dilation")
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._build_offset_branch(in_channels)
        self.reset_parameters()

    def _build_offset_branch(self, in_channels: int) -> None:
        """Subclasses that predict their offsets build the predictor here (after the weights,
        before their initialisation, so seeded construction draws in the same order)."""

    def reset_parameters(self) -> None:
        # The same initialisation as nn.Conv2d, so a zero-offset layer is a drop-in conv.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, input: Tensor, offset: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        if offset is None:
            raise TypeError("DeformConv2d takes its offsets: layer(input, offset, mask=None), as "
                            "torchvision's; the layer that predicts its own is DeformConv2dPack")
        self._report_offsets(offset=offset, mask=mask)
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, mask)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, groups={self.groups}")


class DeformConv2dPack(DeformConv2d):
    """A deformable convolution that predicts its own offsets (and, if modulated, its mask)
    (mmcv's name for it; deformviz's `DeformConv2d` before 0.2).

    The offsets come from an ordinary convolution over the same input with the same kernel size,
    stride, padding and dilation (`conv_offset`), initialised to zero so the layer starts as a
    regular convolution (and, if modulated, with every mask at sigmoid(0) = 0.5).

    `register_offset_hook(fn)` calls `fn(module, offset=..., mask=...)` on every forward pass
    with the exact offset [B, 2 * offset_groups * K, Ho, Wo] (input cells) and mask
    [B, offset_groups * K, Ho, Wo] or None that the operator used.

    Shape:
        input [B, in_channels, H, W] -> output [B, out_channels, Ho, Wo].

    Example:
        >>> layer = DeformConv2dPack(64, 64, 3, padding=2, dilation=2)
        >>> y = layer(torch.randn(1, 64, 32, 32))  # [1, 64, 32, 32]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, offset_groups: int = 1,
                 bias: bool = True, modulated: bool = False) -> None:
        if in_channels % offset_groups:
            raise ValueError(f"in_channels={in_channels} must be divisible by "
                             f"offset_groups={offset_groups}")
        self._offset_settings = (offset_groups, modulated)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)

    def _build_offset_branch(self, in_channels: int) -> None:
        self.offset_groups, self.modulated = self._offset_settings
        del self._offset_settings
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(in_channels,
                                     self.offset_groups * taps * (3 if self.modulated else 2),
                                     self.kernel_size, self.stride, self.padding, self.dilation)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def predict_offsets(self, input: Tensor) -> tuple[Tensor, Tensor | None]:
        """Offsets [B, 2 * G * K, Ho, Wo] and mask [B, G * K, Ho, Wo] (or None) for `input`."""
        raw = self.conv_offset(input)
        if not self.modulated:
            return raw, None
        offset_channels = 2 * self.offset_groups * self.kernel_size[0] * self.kernel_size[1]
        return raw[:, :offset_channels], raw[:, offset_channels:].sigmoid()

    def forward(self, input: Tensor) -> Tensor:  # type: ignore[override]
        offset, mask = self.predict_offsets(input)
        return super().forward(input, offset, mask)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, offset_groups={self.offset_groups}, "
                f"modulated={self.modulated}")
