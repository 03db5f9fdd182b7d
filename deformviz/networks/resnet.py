"""ResNet and ResNeXt backbones with deformable convolution in any block, on deformviz's ops.

The bottleneck ResNets that mmdetection and detectron2 train with DCN / DCNv2 (c3-c5 in their
model zoos), rebuilt so their checkpoints load strictly, with module names that follow the
checkpoint's own naming (`ResNetSpec.naming`):

- "mmdetection" (also torchvision's names): `conv1`, `bn1`, `layer1..layer4`; a block has
  `conv1/bn1`, `conv2/bn2`, `conv3/bn3` and `downsample.{0,1}`; a deformable `conv2` owns its
  offset conv as `conv2.conv_offset` (as mmcv's `DeformConv2dPack` does).
- "detectron2": `stem.conv1`, `res2..res5`; every conv owns its norm (`conv1.norm`), the
  projection is `shortcut`. Its offset conv, a sibling `conv2_offset` in detectron2, lives in
  the deformable conv here (`conv2.conv_offset`); the loader renames that one key.

Every deformable conv is a `deformviz.ops.DeformConv2dPack` (the probe recognises it), 3x3 with
padding = dilation, bias-free. Its offset conv's output is [dy, dx interleaved for G groups |
G * 9 mask logits]: exactly mmcv's and detectron2's "chunk into three, concatenate the first
two, sigmoid the third", since the first two chunks concatenated are the first two thirds.

`stride_in_1x1` puts a block's stride on its first 1x1 conv (mmdetection's "caffe" style,
detectron2's STRIDE_IN_1X1, MSRA's models) instead of the 3x3 (mmdetection's "pytorch" style).

Variants: `norm` "BN", "FrozenBN", "GN" (`norm_groups` groups; mmcv names these norms `gn1`..
instead of `bn1`..) or "none"; per-stage `strides` and `dilations` (a dilated last stage:
mmdetection's `dilations=(1, 1, 1, 2)`, detectron2's DC5); mmdetection's ResNetV1c/V1d
`deep_stem` (`stem.0..8`: three 3x3 convs with norms and ReLUs instead of the 7x7) and
`avg_down` (a projection that average-pools, then convs at stride 1: `downsample.0` the pool,
`downsample.1` the conv, `downsample.2` the norm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deformviz.ops import DeformConv2dPack

__all__ = ["DeformSpec", "ResNetSpec", "ResNet", "Bottleneck", "FrozenBatchNorm2d",
           "ConvWithNorm", "DeformConvWithNorm", "count_weights", "STAGE_OUTPUTS"]

NAMINGS = ("mmdetection", "detectron2")
NORMS = ("BN", "FrozenBN", "GN", "none")
#: Keys of the feature maps `ResNet.forward` returns, one per stage (strides 4, 8, 16, 32).
STAGE_OUTPUTS = ("c2", "c3", "c4", "c5")
#: Stage module names per naming.
STAGE_NAMES = {"mmdetection": ("layer1", "layer2", "layer3", "layer4"),
               "detectron2": ("res2", "res3", "res4", "res5")}
#: Block counts of the standard depths.
DEPTH_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


@dataclass(frozen=True)
class DeformSpec:
    """A deformable 3x3 conv2: DCNv2 (modulated) or DCNv1, with `offset_groups` offset groups
    (mmcv's `deform_groups`, detectron2's DEFORM_NUM_GROUPS)."""

    modulated: bool = False
    offset_groups: int = 1

    @property
    def version(self) -> str:
        return "DCNv2" if self.modulated else "DCNv1"

    @property
    def offset_channels(self) -> int:
        """Output channels of the offset conv: (3 if modulated else 2) * groups * 9."""
        return (3 if self.modulated else 2) * self.offset_groups * 9


@dataclass(frozen=True)
class ResNetSpec:
    """Everything that defines a bottleneck ResNet / ResNeXt backbone (no classifier).

    Attributes:
        blocks: blocks per stage (c2..c5), e.g. (3, 4, 6, 3) for ResNet-50.
        widths: bottleneck width (channels of conv2) per stage; (64, 128, 256, 512) for ResNet,
            groups * base width * 2^i for ResNeXt (32x4d: 128, 256, 512, 1024).
        out_channels: output channels per stage; (256, 512, 1024, 2048).
        groups: grouped-conv groups of every conv2 (1 for ResNet, 32 or 64 for ResNeXt).
        deform: per stage, per block, a DeformSpec for a deformable conv2 or None.
        stride_in_1x1: the stride of a stage's first block on conv1 instead of conv2.
        naming: "mmdetection" or "detectron2" (module names, see the module docstring).
        frozen_norm: FrozenBatchNorm2d (detectron2's FrozenBN, no num_batches_tracked) instead
            of nn.BatchNorm2d (always run in eval mode).
        stem_channels: output channels of the 7x7 stem conv (or of the deep stem).
        strides, dilations: per stage (the standard 1, 2, 2, 2 and no dilation).
        norm: "BN", "FrozenBN" (also set by `frozen_norm`), "GN" or "none".
        norm_groups: GroupNorm's groups (norm "GN").
        deep_stem, avg_down: mmdetection's ResNetV1c (deep stem) / ResNetV1d (both).
    """

    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    out_channels: tuple[int, ...]
    groups: int = 1
    deform: tuple[tuple[DeformSpec | None, ...], ...] = ()
    stride_in_1x1: bool = False
    naming: str = "mmdetection"
    frozen_norm: bool = False
    stem_channels: int = 64
    strides: tuple[int, ...] = (1, 2, 2, 2)
    dilations: tuple[int, ...] = (1, 1, 1, 1)
    norm_eps: float = field(default=1e-5)
    norm: str = "BN"
    norm_groups: int = 32
    deep_stem: bool = False
    avg_down: bool = False

    def __post_init__(self) -> None:
        if self.naming not in NAMINGS:
            raise ValueError(f"naming must be one of {NAMINGS}, got {self.naming!r}")
        if self.frozen_norm:
            object.__setattr__(self, "norm", "FrozenBN")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if (self.deep_stem or self.avg_down) and self.naming != "mmdetection":
            raise ValueError("deep_stem and avg_down are mmdetection's ResNetV1c/V1d variants")
        stages = len(STAGE_OUTPUTS)
        for name in ("blocks", "widths", "out_channels", "strides", "dilations"):
            if len(getattr(self, name)) != stages:
                raise ValueError(f"{name} must have {stages} entries, got {getattr(self, name)}")
        if not self.deform:
            object.__setattr__(self, "deform", tuple((None,) * n for n in self.blocks))
        if tuple(len(stage) for stage in self.deform) != tuple(self.blocks):
            raise ValueError("deform must give one entry per block of every stage")

    @classmethod
    def standard(cls, depth: int = 50, *, groups: int = 1, width_per_group: int = 64,
                 dcn: DeformSpec | None = None, dcn_stages: Sequence[bool] = (False, True, True, True),
                 **options: object) -> "ResNetSpec":
        """ResNet-50/101/152 (groups 1) or ResNeXt (e.g. groups 32, width_per_group 4), with
        `dcn` in every block of the stages flagged in `dcn_stages` (c2..c5)."""
        if depth not in DEPTH_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(DEPTH_BLOCKS)}, got {depth}")
        blocks = DEPTH_BLOCKS[depth]
        widths = tuple(groups * width_per_group * 2 ** i for i in range(4))
        deform = tuple((dcn if (dcn is not None and on) else None,) * n
                       for n, on in zip(blocks, dcn_stages))
        return cls(blocks, widths, (256, 512, 1024, 2048), groups, deform, **options)  # type: ignore[arg-type]

    @property
    def depth(self) -> int:
        """Weighted layers of the classification network this backbone comes from (3 per
        block, the stem and the classifier): 50 for blocks (3, 4, 6, 3)."""
        return 3 * sum(self.blocks) + 2

    @property
    def name(self) -> str:
        """"ResNet-50" or "ResNeXt-101 32x4d"."""
        if self.groups == 1:
            return f"ResNet-{self.depth}"
        return f"ResNeXt-{self.depth} {self.groups}x{self.widths[0] // self.groups}d"

    @property
    def stage_names(self) -> tuple[str, ...]:
        return STAGE_NAMES[self.naming]

    def block_stride(self, stage: int, block: int) -> int:
        return self.strides[stage] if block == 0 else 1


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters, all buffers (detectron2's
    FrozenBN: keys weight, bias, running_mean, running_var; no num_batches_tracked).

    Shape: [B, C, H, W] -> [B, C, H, W]; y = (x - mean) / sqrt(var + eps) * weight + bias.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}"


class ConvWithNorm(nn.Conv2d):
    """A bias-free conv followed by its norm, which it owns as `.norm` (detectron2's layout)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, norm: nn.Module,
                 stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias=False)
        self.norm = norm

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(super().forward(x))


class DeformConvWithNorm(DeformConv2dPack):
    """A bias-free deformable conv followed by its norm, owned as `.norm` (detectron2's layout;
    its offset conv is `.conv_offset`). Offset hooks see the offsets before the norm runs."""

    def __init__(self, in_channels: int, out_channels: int, norm: nn.Module, *, stride: int,
                 dilation: int, groups: int, deform: DeformSpec) -> None:
        super().__init__(in_channels, out_channels, 3, stride, dilation, dilation, groups,
                         deform.offset_groups, bias=False, modulated=deform.modulated)
        self.norm = norm

    def forward(self, input: Tensor) -> Tensor:
        return self.norm(super().forward(input))


def _norm(spec: ResNetSpec, channels: int) -> nn.Module:
    if spec.norm == "FrozenBN":
        return FrozenBatchNorm2d(channels, spec.norm_eps)
    if spec.norm == "GN":
        return nn.GroupNorm(spec.norm_groups, channels, eps=spec.norm_eps)
    if spec.norm == "none":
        return nn.Identity()
    return nn.BatchNorm2d(channels, eps=spec.norm_eps)


def norm_name(spec: ResNetSpec, index: int) -> str:
    """mmcv's attribute name of norm `index` (1..3) of a block or the stem: "bn1", "gn1"."""
    return f"{'gn' if spec.norm == 'GN' else 'bn'}{index}"


def _projection(spec: ResNetSpec, in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """mmdetection's `downsample`: conv 1x1 (strided) + norm, or with `avg_down` an average
    pool over stride x stride cells (ceil mode, padding not counted), then the conv at stride 1."""
    conv_stride, layers = stride, []
    if spec.avg_down:
        conv_stride = 1
        layers.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
    layers += [nn.Conv2d(in_channels, out_channels, 1, conv_stride, bias=False),
               _norm(spec, out_channels)]
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (deformable or not, grouped for ResNeXt) -> 1x1 expand, plus the
    identity or a strided 1x1 projection; ReLU after each norm and after the sum.

    Shape: [B, in_channels, H, W] -> [B, out_channels, ceil(H / stride), ceil(W / stride)].
    """

    def __init__(self, spec: ResNetSpec, in_channels: int, stage: int, block: int) -> None:
        super().__init__()
        width, out_channels = spec.widths[stage], spec.out_channels[stage]
        stride, dilation = spec.block_stride(stage, block), spec.dilations[stage]
        deform = spec.deform[stage][block]
        stride_1x1, stride_3x3 = (stride, 1) if spec.stride_in_1x1 else (1, stride)
        needs_projection = stride != 1 or in_channels != out_channels
        self.detectron2_layout = spec.naming == "detectron2"
        if self.detectron2_layout:
            self.conv1 = ConvWithNorm(in_channels, width, 1, _norm(spec, width), stride_1x1)
            if deform is None:
                self.conv2 = ConvWithNorm(width, width, 3, _norm(spec, width), stride_3x3,
                                          dilation, dilation, spec.groups)
            else:
                self.conv2 = DeformConvWithNorm(width, width, _norm(spec, width), stride=stride_3x3,
                                                dilation=dilation, groups=spec.groups, deform=deform)
            self.conv3 = ConvWithNorm(width, out_channels, 1, _norm(spec, out_channels))
            self.shortcut = (ConvWithNorm(in_channels, out_channels, 1, _norm(spec, out_channels),
                                          stride) if needs_projection else None)
        else:
            self.norm_names = tuple(norm_name(spec, i) for i in (1, 2, 3))
            self.conv1 = nn.Conv2d(in_channels, width, 1, stride_1x1, bias=False)
            self.add_module(self.norm_names[0], _norm(spec, width))
            if deform is None:
                self.conv2 = nn.Conv2d(width, width, 3, stride_3x3, dilation, dilation, spec.groups,
                                       bias=False)
            else:
                self.conv2 = DeformConv2dPack(width, width, 3, stride_3x3, dilation, dilation,
                                              spec.groups, deform.offset_groups, bias=False,
                                              modulated=deform.modulated)
            self.add_module(self.norm_names[1], _norm(spec, width))
            self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
            self.add_module(self.norm_names[2], _norm(spec, out_channels))
            self.downsample = (_projection(spec, in_channels, out_channels, stride)
                               if needs_projection else None)

    def forward(self, x: Tensor) -> Tensor:
        if self.detectron2_layout:  # each conv applies its own norm
            out = F.relu(self.conv1(x))
            out = F.relu(self.conv2(out))
            out = self.conv3(out)
            identity = x if self.shortcut is None else self.shortcut(x)
        else:
            norm1, norm2, norm3 = (getattr(self, name) for name in self.norm_names)
            out = F.relu(norm1(self.conv1(x)))
            out = F.relu(norm2(self.conv2(out)))
            out = norm3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class _Stem(nn.Module):
    """detectron2's BasicStem: `conv1` (7x7, stride 2, with its norm); the max pool follows."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.conv1 = ConvWithNorm(3, spec.stem_channels, 7, _norm(spec, spec.stem_channels), 2, 3)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv1(x))


def _deep_stem(spec: ResNetSpec) -> nn.Sequential:
    """mmdetection's deep stem (ResNetV1c/V1d): 3x3 convs to C/2 (stride 2), C/2, C, each with
    its norm and a ReLU, as `stem.0`..`stem.8`."""
    half, layers, channels = spec.stem_channels // 2, [], 3
    for out, stride in ((half, 2), (half, 1), (spec.stem_channels, 1)):
        layers += [nn.Conv2d(channels, out, 3, stride, 1, bias=False), _norm(spec, out),
                   nn.ReLU()]
        channels = out
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """A bottleneck ResNet / ResNeXt backbone without classifier (see ResNetSpec).

    Shape: [B, 3, H, W] normalised image -> {"c2": [B, C2, H/4, W/4], "c3": ... H/8,
    "c4": ... H/16, "c5": [B, C5, H/32, W/32]} (sides rounded up).

    Example:
        >>> spec = ResNetSpec((1, 1, 1, 1), (4, 8, 8, 8), (16, 16, 32, 32), stem_channels=8,
        ...                   deform=((None,), (DeformSpec(),), (None,), (DeformSpec(True),)))
        >>> features = ResNet(spec).eval()(torch.zeros(1, 3, 64, 64))
        >>> tuple(features["c5"].shape), ResNet(spec).deformable_layers
        ((1, 32, 2, 2), ('layer2.0.conv2', 'layer4.0.conv2'))
    """

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        if spec.naming == "detectron2":
            self.stem = _Stem(spec)
        elif spec.deep_stem:
            self.stem = _deep_stem(spec)
        else:
            self.conv1 = nn.Conv2d(3, spec.stem_channels, 7, 2, 3, bias=False)
            self.add_module(norm_name(spec, 1), _norm(spec, spec.stem_channels))
        channels = spec.stem_channels
        for stage, name in enumerate(spec.stage_names):
            blocks = []
            for block in range(spec.blocks[stage]):
                blocks.append(Bottleneck(spec, channels, stage, block))
                channels = spec.out_channels[stage]
            self.add_module(name, nn.Sequential(*blocks))

    @property
    def deformable_layers(self) -> tuple[str, ...]:
        """Qualified names of the deformable convs, in the order the input meets them."""
        return tuple(name for name, module in self.named_modules()
                     if isinstance(module, DeformConv2dPack))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if self.spec.naming == "detectron2" or self.spec.deep_stem:
            x = self.stem(x)
        else:
            x = F.relu(getattr(self, norm_name(self.spec, 1))(self.conv1(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        features = {}
        for name, output in zip(self.spec.stage_names, STAGE_OUTPUTS):
            x = getattr(self, name)(x)
            features[output] = x
        return features


def count_weights(module: nn.Module) -> int:
    """Learned numbers in a module's state: parameters and frozen affine buffers (a
    FrozenBatchNorm2d's weight and bias), not running statistics nor batch counters."""
    skipped = ("running_mean", "running_var", "num_batches_tracked")
    return sum(value.numel() for key, value in module.state_dict().items()
               if not key.endswith(skipped))
