"""Inputs shared by the operator tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor


@dataclass
class ConvCase:
    """One deform_conv2d configuration and random tensors for it."""

    input: Tensor
    offset: Tensor
    weight: Tensor
    bias: Tensor | None
    mask: Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    def args(self) -> tuple:
        return (self.input, self.offset, self.weight, self.bias, self.stride, self.padding,
                self.dilation, self.mask)

    def tensors(self) -> list[Tensor]:
        return [t for t in (self.input, self.offset, self.weight, self.bias, self.mask)
                if t is not None]


def make_conv_case(batch: int = 2, channels: int = 4, size: tuple[int, int] = (7, 8),
                   out_channels: int = 6, kernel: tuple[int, int] = (3, 3), stride=(1, 1),
                   padding=(1, 1), dilation=(1, 1), groups: int = 1, offset_groups: int = 1,
                   with_mask: bool = True, with_bias: bool = True, offset_scale: float = 1.5,
                   dtype=torch.float64, device="cpu", seed: int = 0) -> ConvCase:
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

    height, width = size
    out_h = (height + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    taps = kernel[0] * kernel[1]
    mask = None
    if with_mask:
        mask = torch.rand(batch, offset_groups * taps, out_h, out_w, generator=generator,
                          dtype=dtype).to(device)
    return ConvCase(
        input=randn(batch, channels, height, width),
        offset=randn(batch, 2 * offset_groups * taps, out_h, out_w) * offset_scale,
        weight=randn(out_channels, channels // groups, *kernel),
        bias=randn(out_channels) if with_bias else None,
        mask=mask,
        stride=stride, padding=padding, dilation=dilation,
    )


@pytest.fixture
def conv_case() -> ConvCase:
    return make_conv_case()
