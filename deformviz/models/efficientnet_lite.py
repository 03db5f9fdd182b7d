"""EfficientNet-Lite0 cut at stride 16: the ImageNet-pretrained trunk of the deformable network.

The trunk is the stem and MBConv blocks 0..10 of EfficientNet-Lite0 (Tan & Le, 2019; the
"Lite" variant for mobile accelerators). Block 10 is the last block at stride 16 and has 112
output channels; block 11 opens the next stage with a stride-2 depthwise conv (stride 32,
192 channels), so it is not part of the trunk.

Lite0 differs from EfficientNet-B0 in three ways, all reproduced here: no squeeze-excitation,
ReLU6 instead of swish, and a stem (32) and head (1280) that are not scaled. The parameter
names follow the EfficientNet-PyTorch (lukemelas) convention (`_conv_stem`, `_bn0`,
`_blocks.N._expand_conv`, ...) so the shipped checkpoint loads with a plain `load_state_dict`.

Pretrained weights ship with the package in `weights/efficientnet_lite0_imagenet_trunk.pt`
(float16; see `weights/LICENSE-efficientnet-lite0.txt` for licence and provenance) and are
loaded with `load_imagenet_trunk()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BlockArgs",
    "EfficientNetLite0Trunk",
    "MBConvBlock",
    "TFSamePadConv2d",
    "LITE0_BLOCKS",
    "TRUNK_WEIGHTS_PATH",
    "load_imagenet_trunk",
]

# The checkpoint was trained in TensorFlow: its batch norm uses epsilon 1e-3 and decay 0.99,
# i.e. PyTorch momentum 0.01. With PyTorch's default eps (1e-5) channels with a small
# running variance would be rescaled differently from how the weights were trained.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

TRUNK_WEIGHTS_PATH = Path(__file__).parent / "weights" / "efficientnet_lite0_imagenet_trunk.pt"


@dataclass(frozen=True)
class BlockArgs:
    """Hyper-parameters of one MBConv block.

    Attributes:
        in_channels: Channels entering the block.
        out_channels: Channels leaving the block.
        kernel_size: Side of the depthwise kernel (3 or 5).
        stride: Stride of the depthwise conv (1 or 2).
        expand_ratio: Width of the hidden layer relative to `in_channels`; 1 means the block
            has no expansion conv.
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    expand_ratio: int


def _expand_stages(
    stages: tuple[tuple[int, int, int, int, int], ...], stem_channels: int
) -> tuple[BlockArgs, ...]:
    """Unroll (repeats, kernel, stride, expand, out_channels) stages into one entry per block.

    Only the first block of a stage strides and changes the channel count, as in the paper.
    """
    blocks: list[BlockArgs] = []
    in_channels = stem_channels
    for repeats, kernel, stride, expand, out_channels in stages:
        for i in range(repeats):
            blocks.append(BlockArgs(in_channels, out_channels, kernel, stride if i == 0 else 1, expand))
            in_channels = out_channels
    return tuple(blocks)


LITE0_STEM_CHANNELS = 32
# Lite0 has width and depth multipliers 1.0, so these are the B0 stages unchanged.
LITE0_BLOCKS: tuple[BlockArgs, ...] = _expand_stages(
    (
        (1, 3, 1, 1, 16),  # block 0, stride 2 (stem) -> 2
        (2, 3, 2, 6, 24),  # blocks 1-2, stride 4
        (2, 5, 2, 6, 40),  # blocks 3-4, stride 8
        (3, 3, 2, 6, 80),  # blocks 5-7, stride 16
        (3, 5, 1, 6, 112),  # blocks 8-10, stride 16  <- end of the trunk
        (4, 5, 2, 6, 192),  # blocks 11-14, stride 32
        (1, 3, 1, 6, 320),  # block 15, stride 32
    ),
    LITE0_STEM_CHANNELS,
)
TRUNK_NUM_BLOCKS = 11  # blocks 0..10


class TFSamePadConv2d(nn.Conv2d):
    """`nn.Conv2d` with TensorFlow's 'SAME' padding, computed from the input size at run time.

    The weights were trained in TensorFlow, whose 'SAME' padding is asymmetric for strided
    convs on even inputs: the extra row and column go to the bottom and right. PyTorch's
    symmetric `padding=k // 2` makes each stride-2 layer read its input one sample earlier;
    away from the borders that is the same network run on the image shifted by 15 pixels
    (tools/verify_efficientnet_lite0.py checks this). So the convention decides where a
    feature cell sits on the photo, which is what deformviz draws, and what the border cells
    see; we keep the one the weights were trained with. The padding is computed per call,
    not fixed at construction, because the trunk runs on photos of any size.

    Shape:
        - Input: [B, C_in, H, W]
        - Output: [B, C_out, ceil(H / stride), ceil(W / stride)]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=False)

    @staticmethod
    def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
        """Padding (before, after) along one axis of length `size`, as TensorFlow computes it."""
        out_size = math.ceil(size / stride)
        total = max((out_size - 1) * stride + kernel_size - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = self.same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = self.same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation, as in EfficientNet-Lite.

    1x1 expansion -> depthwise kxk (strided) -> 1x1 linear projection, each followed by batch
    norm; ReLU6 after the first two. The input is added back when the block keeps its shape.
    There is no drop-connect: the trunk is used as a pretrained feature extractor.

    Shape:
        - Input: [B, in_channels, H, W]
        - Output: [B, out_channels, ceil(H / stride), ceil(W / stride)]
    """

    def __init__(self, args: BlockArgs) -> None:
        super().__init__()
        self.args = args
        hidden = args.in_channels * args.expand_ratio
        # Attribute names are the checkpoint's; a block without expansion has no _expand_conv.
        if args.expand_ratio != 1:
            self._expand_conv = TFSamePadConv2d(args.in_channels, hidden, 1)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = TFSamePadConv2d(hidden, hidden, args.kernel_size, args.stride, groups=hidden)
        self._bn1 = _batch_norm(hidden)
        self._project_conv = TFSamePadConv2d(hidden, args.out_channels, 1)
        self._bn2 = _batch_norm(args.out_channels)
        self.has_residual = args.stride == 1 and args.in_channels == args.out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.args.expand_ratio != 1:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return h + x if self.has_residual else h


class EfficientNetLite0Trunk(nn.Module):
    """EfficientNet-Lite0 stem and blocks 0..10: an image in, a stride-16 feature map out.

    Input images are RGB in [0, 1], normalised with `normalize` (mean 0.5, std 0.5 per
    channel: the TF EfficientNet-Lite preprocessing `(x - 127) / 128` on 0..255, to within
    1/255).

    Output size: every strided conv uses TF 'SAME' padding, so each stride-2 layer maps a side
    of n pixels to ceil(n / 2) and the trunk maps H to ceil(H / 16). When H is not a multiple
    of 16 the bottom and right borders are zero-padded (after normalisation, i.e. padded with
    mid-grey) and the cell centres move: see `cell_center_offset`. Sides that are multiples
    of 16 give the grid `stride * i + 15` (pixel indices).

    Attributes:
        stride: Input pixels per feature cell (16).
        out_channels: Channels of the feature map (112).
        input_mean: Per-channel mean subtracted from [0, 1] RGB input.
        input_std: Per-channel std dividing [0, 1] RGB input.

    Shape:
        - Input: [B, 3, H, W], normalised RGB.
        - Output: [B, 112, ceil(H / 16), ceil(W / 16)]

    Example:
        >>> trunk = load_imagenet_trunk().eval()
        >>> images = torch.rand(2, 3, 224, 320)  # RGB in [0, 1]
        >>> trunk(trunk.normalize(images)).shape
        torch.Size([2, 112, 14, 20])
    """

    stride: ClassVar[int] = 16
    out_channels: ClassVar[int] = 112
    # TF EfficientNet-Lite feeds (x - 127) / 128 on 0..255; on 0..1 that is mean 0.498 and
    # std 0.502, rounded here to 0.5. With it, photos reproduce the stem batch norm's running
    # statistics far better than with the torchvision ImageNet mean/std, which inflate the stem
    # output variance about 3x (tools/verify_efficientnet_lite0.py).
    input_mean: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    input_std: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = TFSamePadConv2d(3, LITE0_STEM_CHANNELS, 3, stride=2)
        self._bn0 = _batch_norm(LITE0_STEM_CHANNELS)
        self._blocks = nn.ModuleList(MBConvBlock(args) for args in LITE0_BLOCKS[:TRUNK_NUM_BLOCKS])
        assert LITE0_BLOCKS[TRUNK_NUM_BLOCKS - 1].out_channels == self.out_channels

    @classmethod
    def normalize(cls, images: Tensor) -> Tensor:
        """Map RGB images in [0, 1], shape [B, 3, H, W], to the trunk's input range (about [-1, 1])."""
        mean = images.new_tensor(cls.input_mean).view(1, 3, 1, 1)
        std = images.new_tensor(cls.input_std).view(1, 3, 1, 1)
        return (images - mean) / std

    def cell_center_offset(self, size: int) -> float:
        """Input pixel index on which feature cell 0 is centred along a side of `size` pixels.

        Cell i is centred on input pixel `stride * i + cell_center_offset(size)` (pixel
        indices, so pixel k spans [k, k + 1) and its centre is k + 0.5); its receptive field
        is 339 pixels wide. TF 'SAME' padding puts the spare padding of a stride-2 layer after
        the input, so on an even side each stride-2 layer moves the grid by half an output
        step: for sides that are multiples of 16 the offset is 8 + 4 + 2 + 1 = 15, not the 7.5
        of an unshifted grid. In general it works out to `(size - 1) % 16`: the last cell is
        always centred on the last pixel (for example offset 3 for 100 pixels).

        Args:
            size: Input height or width in pixels.

        Returns:
            The offset in input pixels (an integer, returned as float).
        """
        # Walk the convs in order, composing centre(cell i) = stride * i + offset.
        scale, offset = 1, 0.0
        for conv in self.modules():
            if not isinstance(conv, TFSamePadConv2d):
                continue
            k, s = conv.kernel_size[0], conv.stride[0]
            before, _ = TFSamePadConv2d.same_padding(size, k, s)
            # Output cell j centred on input index s * j - before + (k - 1) / 2.
            offset += scale * (-before + (k - 1) / 2)
            scale *= s
            size = math.ceil(size / s)
        return offset

    def forward(self, x: Tensor) -> Tensor:
        """Run the trunk.

        Args:
            x: Normalised RGB images, shape [B, 3, H, W].

        Returns:
            Features, shape [B, 112, ceil(H / 16), ceil(W / 16)].
        """
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x


def load_imagenet_trunk(path: Path | str = TRUNK_WEIGHTS_PATH) -> EfficientNetLite0Trunk:
    """Build the trunk with the ImageNet weights shipped in the package, offline.

    The file holds float16 tensors (to halve the package size); they are converted to float32.
    The module is returned in training mode, like any freshly built `nn.Module`.

    Args:
        path: A state dict written by tools/extract_trunk_weights.py.

    Returns:
        The pretrained trunk, float32, on the CPU.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    trunk = EfficientNetLite0Trunk()
    trunk.load_state_dict(state)
    return trunk
