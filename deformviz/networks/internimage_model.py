"""InternImage (Wang et al., CVPR 2023) and FlashInternImage (Xiong et al., CVPR 2024) backbones,
rebuilt on deformviz's own `dcnv3` / `dcnv4` operator with InternImage's module names, so that
its checkpoints load strictly (`networks/internimage.py` reads the architecture from the keys).

Structure (channels last, [N, H, W, C], between the stem and the output):
    patch_embed  conv1 (3x3, s2) -> norm1 (LN) -> GELU -> conv2 (3x3, s2) -> norm2 (LN)
    levels[i]    blocks[j]: x + gamma1 * dcn(norm1(x)), then x + gamma2 * mlp(norm2(x))
                 (post-norm: x + gamma1 * norm1(dcn(x)), ...); norm (unless post-norm);
                 downsample conv (3x3, s2, no bias) -> LN (all levels but the last)
    dcn          input_proj / value_proj, dw_conv (depthwise conv -> LN -> GELU) feeding
                 offset and mask Linear layers (DCNv4: offset_mask_dw, offset_mask), the core,
                 output_proj.
The forward returns the levels' outputs before downsampling as NCHW maps {"c2".. "c5"} (as
InternImage's detection backbone does), at strides 4, 8, 16, 32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deformviz.ops import dcnv3
from deformviz.ops.dcnv4_layout import dcnv4_channels, split_dcnv4_offset_mask

__all__ = ["InternImageSpec", "InternImageBackbone", "DCNv3Module", "DCNv4Module",
           "LEVEL_OUTPUTS"]

LEVEL_OUTPUTS = ("c2", "c3", "c4", "c5")


@dataclass(frozen=True)
class InternImageSpec:
    """What the rebuilt backbone needs.

    Attributes:
        core: "DCNv3" (InternImage) or "DCNv4" (FlashInternImage).
        channels: C of level 0 (level i has C * 2 ** i).
        depths: blocks per level. groups: DCN groups per level. mlp_hidden: per level.
        offset_scale: the DCN's offset_scale (scales offsets AND grid; not in the weights).
        layer_scale: gamma1/gamma2 present. post_norm: norm after the DCN / MLP.
        center_feature_scale: the centre feature blend (InternImage-H/G).
        dw_kernel_size: the depthwise conv feeding the offsets (None: DCNv4 without one).
        norm_eps: LayerNorm eps (not in the weights; InternImage uses 1e-6).
        activation: "GELU" (not in the weights; every published config).
        output_bias: DCNv4 output_proj has a bias (FlashInternImage: none by default).
        mlp_fc2_bias: the MLP's fc2 has a bias (FlashInternImage: none by default).
    """

    core: str
    channels: int
    depths: tuple[int, ...]
    groups: tuple[int, ...]
    mlp_hidden: tuple[int, ...]
    offset_scale: float = 1.0
    layer_scale: bool = False
    post_norm: bool = False
    center_feature_scale: bool = False
    dw_kernel_size: int | None = 3
    norm_eps: float = 1e-6
    activation: str = "GELU"
    output_bias: bool = True
    mlp_fc2_bias: bool = True


def _activation(name: str) -> nn.Module:
    return {"GELU": nn.GELU, "ReLU": nn.ReLU, "SiLU": nn.SiLU}[name]()


class _ToChannelsLast(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 2, 3, 1)


class _ToChannelsFirst(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 3, 1, 2)


def _norm(channels: int, eps: float, before: nn.Module | None = None,
          after: nn.Module | None = None) -> nn.Sequential:
    """LayerNorm over channels, wrapped in permutes so its index matches InternImage's keys
    (`.1.` after a permute, `.0.` without one)."""
    return nn.Sequential(*[m for m in (before, nn.LayerNorm(channels, eps=eps), after)
                           if m is not None])


class DCNv3Module(nn.Module):
    """InternImage's DCNv3 module on deformviz's `dcnv3` (same submodule names).

    forward(x [N, H, W, C]) -> [N, H, W, C]. The offsets are `offset(dw_conv(x))`, the
    modulation the softmax over the K points of each group of `mask(dw_conv(x))`.
    """

    def __init__(self, channels: int, group: int, offset_scale: float, dw_kernel_size: int,
                 eps: float, activation: str, center_feature_scale: bool,
                 kernel_size: int = 3, stride: int = 1, pad: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.channels, self.group, self.offset_scale = channels, group, offset_scale
        self.kernel_size, self.stride, self.pad, self.dilation = kernel_size, stride, pad, dilation
        self.center_feature_scale = center_feature_scale
        taps = kernel_size * kernel_size
        self.dw_conv = nn.Sequential(
            nn.Conv2d(channels, channels, dw_kernel_size, padding=(dw_kernel_size - 1) // 2,
                      groups=channels),
            _norm(channels, eps, before=_ToChannelsLast()), _activation(activation))
        self.offset = nn.Linear(channels, group * taps * 2)
        self.mask = nn.Linear(channels, group * taps)
        self.input_proj = nn.Linear(channels, channels)
        self.output_proj = nn.Linear(channels, channels)
        if center_feature_scale:
            self.center_feature_scale_proj_weight = nn.Parameter(torch.zeros(group, channels))
            self.center_feature_scale_proj_bias = nn.Parameter(torch.zeros(group))

    def forward(self, x: Tensor) -> Tensor:
        n, h, w, _ = x.shape
        projected = self.input_proj(x)
        features = self.dw_conv(x.permute(0, 3, 1, 2))
        offset = self.offset(features)
        mask = self.mask(features).reshape(n, h, w, self.group, -1).softmax(-1)
        out = dcnv3(projected, offset, mask.reshape(n, h, w, -1), self.kernel_size, self.stride,
                    self.pad, self.dilation, self.group, self.offset_scale)
        if self.center_feature_scale:
            scale = torch.nn.functional.linear(features, self.center_feature_scale_proj_weight,
                                               self.center_feature_scale_proj_bias).sigmoid()
            scale = scale.repeat_interleave(self.channels // self.group, dim=-1)
            out = out * (1 - scale) + projected * scale
        return self.output_proj(out)


class DCNv4Module(nn.Module):
    """DCNv4's module (FlashInternImage) on deformviz's `dcnv4`: forward(x [N, L, C],
    shape=(H, W)) -> [N, L, C]; offsets and raw modulation from one `offset_mask` Linear
    (after the optional depthwise `offset_mask_dw`)."""

    def __init__(self, channels: int, group: int, offset_scale: float,
                 dw_kernel_size: int | None, output_bias: bool, kernel_size: int = 3,
                 stride: int = 1, pad: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.channels, self.group, self.offset_scale = channels, group, offset_scale
        self.kernel_size, self.stride, self.pad, self.dilation = kernel_size, stride, pad, dilation
        self.dw_kernel_size = dw_kernel_size
        if dw_kernel_size is not None:
            self.offset_mask_dw = nn.Conv2d(channels, channels, dw_kernel_size,
                                            padding=(dw_kernel_size - 1) // 2, groups=channels)
        self.offset_mask = nn.Linear(channels, dcnv4_channels(group, kernel_size * kernel_size))
        self.value_proj = nn.Linear(channels, channels)
        self.output_proj = nn.Linear(channels, channels, bias=output_bias)

    def forward(self, x: Tensor, shape: tuple[int, int] | None = None) -> Tensor:
        n, length, c = x.shape
        h, w = shape if shape is not None else (int(length ** 0.5),) * 2  # DCNv4's rule
        value = self.value_proj(x).reshape(n, h, w, -1)
        source = x
        if self.dw_kernel_size is not None:
            source = self.offset_mask_dw(x.reshape(n, h, w, c).permute(0, 3, 1, 2))
            source = source.permute(0, 2, 3, 1).reshape(n, length, c)
        packed = self.offset_mask(source).reshape(n, h, w, -1)
        offset, mask = split_dcnv4_offset_mask(packed, self.group, self.kernel_size)
        out = dcnv3(value, offset, mask, self.kernel_size, self.stride, self.pad,
                    self.dilation, self.group, self.offset_scale)
        return self.output_proj(out.reshape(n, length, -1))


class _MLP(nn.Module):
    def __init__(self, channels: int, hidden: int, activation: str, fc2_bias: bool) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = (nn.Linear(channels, hidden), _activation(activation),
                                        nn.Linear(hidden, channels, bias=fc2_bias))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    """One InternImage layer: DCN and MLP, each with a residual (pre- or post-norm)."""

    def __init__(self, spec: InternImageSpec, level: int) -> None:
        super().__init__()
        channels = spec.channels * 2 ** level
        self.post_norm = spec.post_norm
        self.norm1 = _norm(channels, spec.norm_eps)
        if spec.core == "DCNv3":
            self.dcn: nn.Module = DCNv3Module(channels, spec.groups[level], spec.offset_scale,
                                              spec.dw_kernel_size or 3, spec.norm_eps,
                                              spec.activation, spec.center_feature_scale)
        else:
            self.dcn = DCNv4Module(channels, spec.groups[level], spec.offset_scale,
                                   spec.dw_kernel_size, spec.output_bias)
        self.norm2 = _norm(channels, spec.norm_eps)
        self.mlp = _MLP(channels, spec.mlp_hidden[level], spec.activation, spec.mlp_fc2_bias)
        if spec.layer_scale:
            self.gamma1 = nn.Parameter(torch.ones(channels))
            self.gamma2 = nn.Parameter(torch.ones(channels))
        else:
            self.gamma1 = self.gamma2 = None

    def _dcn(self, x: Tensor) -> Tensor:
        if isinstance(self.dcn, DCNv4Module):
            n, h, w, c = x.shape
            return self.dcn(x.reshape(n, h * w, c), (h, w)).reshape(n, h, w, c)
        return self.dcn(x)

    def forward(self, x: Tensor) -> Tensor:
        one, two = self.gamma1 if self.gamma1 is not None else 1.0, \
            self.gamma2 if self.gamma2 is not None else 1.0
        if self.post_norm:
            x = x + one * self.norm1(self._dcn(x))
            return x + two * self.norm2(self.mlp(x))
        x = x + one * self._dcn(self.norm1(x))
        return x + two * self.mlp(self.norm2(x))


class _Downsample(nn.Module):
    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, bias=False)
        self.norm = _norm(2 * channels, eps, before=_ToChannelsLast())

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x.permute(0, 3, 1, 2)))


class _Level(nn.Module):
    def __init__(self, spec: InternImageSpec, level: int) -> None:
        super().__init__()
        channels = spec.channels * 2 ** level
        self.blocks = nn.ModuleList(_Block(spec, level) for _ in range(spec.depths[level]))
        self.norm = (_norm(channels, spec.norm_eps)
                     if not spec.post_norm or spec.center_feature_scale else None)
        self.downsample = (_Downsample(channels, spec.norm_eps)
                           if level < len(spec.depths) - 1 else None)


class _Stem(nn.Module):
    def __init__(self, channels: int, eps: float, activation: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels // 2, 3, stride=2, padding=1)
        self.norm1 = _norm(channels // 2, eps, _ToChannelsLast(), _ToChannelsFirst())
        self.act = _activation(activation)
        self.conv2 = nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1)
        self.norm2 = _norm(channels, eps, before=_ToChannelsLast())

    def forward(self, x: Tensor) -> Tensor:
        return self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))


class InternImageBackbone(nn.Module):
    """The rebuilt backbone: forward(image [N, 3, H, W]) -> {"c2".. "c5": [N, C_i, H_i, W_i]}.

    Example:
        >>> spec = InternImageSpec("DCNv3", 16, (1, 1, 1, 1), (1, 2, 4, 8), (64, 128, 256, 512))
        >>> net = InternImageBackbone(spec).eval()
        >>> {k: tuple(v.shape) for k, v in net(torch.zeros(1, 3, 64, 64)).items()}["c5"]
        (1, 128, 2, 2)
    """

    def __init__(self, spec: InternImageSpec) -> None:
        super().__init__()
        self.spec = spec
        self.patch_embed = _Stem(spec.channels, spec.norm_eps, spec.activation)
        self.levels = nn.ModuleList(_Level(spec, i) for i in range(len(spec.depths)))

    @property
    def deformable_layers(self) -> tuple[str, ...]:
        """Qualified names of every DCN module, bottom to top."""
        return tuple(f"levels.{i}.blocks.{j}.dcn" for i, depth in enumerate(self.spec.depths)
                     for j in range(depth))

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        x = self.patch_embed(image)
        outputs = {}
        for name, level in zip(LEVEL_OUTPUTS, self.levels):
            for block in level.blocks:
                x = block(x)
            if level.norm is not None:
                x = level.norm(x)
            outputs[name] = x.permute(0, 3, 1, 2)
            if level.downsample is not None:
                x = level.downsample(x)
        return outputs
