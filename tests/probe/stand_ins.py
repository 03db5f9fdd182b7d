"""Stand-ins for mmcv's, detectron2's and torchvision's deformable convolutions.

Those libraries cannot be installed here. The probe recognises their classes by module path
and class name (never importing them), so these classes carry the real `__module__` and
`__name__` and the real attribute names and forward signatures (read from the libraries'
sources), and sample with deformviz's operator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deformviz.ops import deform_conv2d


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


class _Conv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1) -> None:
        super().__init__()
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation, self.groups = _pair(padding), _pair(dilation), groups
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels // groups,
                                               *self.kernel_size) * 0.1)

    def sample(self, x: Tensor, offset: Tensor, mask: Tensor | None = None) -> Tensor:
        return deform_conv2d(x, offset, self.weight, None, self.stride, self.padding,
                             self.dilation, mask)


class MmcvDeformConv2d(_Conv):
    """mmcv.ops.deform_conv.DeformConv2d: forward(x, offset), `deform_groups`."""

    def __init__(self, *args, deform_groups: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deform_groups = deform_groups

    def forward(self, x: Tensor, offset: Tensor) -> Tensor:
        return self.sample(x, offset)


class MmcvDeformConv2dPack(MmcvDeformConv2d):
    """mmcv.ops.deform_conv.DeformConv2dPack: predicts offsets with `conv_offset`."""

    def __init__(self, in_channels, out_channels, kernel_size, **kwargs) -> None:
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(in_channels, self.deform_groups * 2 * taps,
                                     self.kernel_size, self.stride, self.padding, self.dilation)

    def forward(self, x: Tensor) -> Tensor:
        return self.sample(x, self.conv_offset(x))


class MmcvModulatedDeformConv2dPack(_Conv):
    """mmcv.ops.modulated_deform_conv.ModulatedDeformConv2dPack: 3 G K channels, chunked."""

    def __init__(self, in_channels, out_channels, kernel_size, deform_groups: int = 1,
                 **kwargs) -> None:
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        self.deform_groups = deform_groups
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(in_channels, deform_groups * 3 * taps, self.kernel_size,
                                     self.stride, self.padding, self.dilation)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv_offset(x)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        return self.sample(x, torch.cat((o1, o2), dim=1), torch.sigmoid(mask))


class Detectron2ModulatedDeformConv(_Conv):
    """detectron2.layers.deform_conv.ModulatedDeformConv: forward(x, offset, mask),
    `deformable_groups`; stride/padding/dilation kept as given (ints)."""

    def __init__(self, *args, deformable_groups: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deformable_groups = deformable_groups
        self.stride, self.padding, self.dilation = self.stride[0], self.padding[0], self.dilation[0]

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        return deform_conv2d(x, offset, self.weight, None, self.stride, self.padding,
                             self.dilation, mask)


class TorchvisionDeformConv2d(_Conv):
    """torchvision.ops.deform_conv.DeformConv2d: forward(input, offset, mask=None); offset
    groups are not stored (they follow from the offset's channels)."""

    def forward(self, input: Tensor, offset: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.sample(input, offset, mask)


def _as(cls: type, module: str, name: str) -> type:
    cls.__module__, cls.__name__, cls.__qualname__ = module, name, name
    return cls


_as(MmcvDeformConv2d, "mmcv.ops.deform_conv", "DeformConv2d")
_as(MmcvDeformConv2dPack, "mmcv.ops.deform_conv", "DeformConv2dPack")
_as(MmcvModulatedDeformConv2dPack, "mmcv.ops.modulated_deform_conv", "ModulatedDeformConv2dPack")
_as(Detectron2ModulatedDeformConv, "detectron2.layers.deform_conv", "ModulatedDeformConv")
_as(TorchvisionDeformConv2d, "torchvision.ops.deform_conv", "DeformConv2d")


class Detectron2Block(nn.Module):
    """detectron2's DeformBottleneckBlock middle: `conv2_offset` predicts, `conv2` samples."""

    def __init__(self, channels: int, groups: int = 2) -> None:
        super().__init__()
        self.conv2_offset = nn.Conv2d(channels, 27 * groups, 3, 1, 2, 2)
        self.conv2 = Detectron2ModulatedDeformConv(channels, channels, 3, 1, 2, 2,
                                                   deformable_groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2_offset(x)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        return self.conv2(x, torch.cat((o1, o2), dim=1), mask.sigmoid())
