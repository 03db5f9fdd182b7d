"""Deformable RoI pooling: each of a box's k x k bins moves by its own learned offset,
dp_ij = gamma * dp_hat_ij * (w, h) (Dai et al. 2017), in mmcv's aligned convention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import reference
from ._checks import autocast_active, check_deform_roi_pool, pair, run_upcast
from ._extension import operator_backend, warn_reference_fallback
from .offset_hooks import OffsetHooks

__all__ = ["deform_roi_pool", "DeformRoIPool"]


def deform_roi_pool(input: Tensor, rois: Tensor, offset: Tensor | None = None, *,
                    output_size: int | tuple[int, int], spatial_scale: float = 1.0,
                    sampling_ratio: int = 0, gamma: float = 0.1) -> Tensor:
    """Deformable RoI pooling (plain RoIAlign-style average pooling when `offset` is None).

    Args:
        input (Tensor[B, C, H, W]): features at `spatial_scale` of the image.
        rois (Tensor[K, 5]): (batch index, x1, y1, x2, y2) in image pixels. They map to feature
            cells as box * spatial_scale - 0.5, without rounding.
        offset (Tensor[K, 2, ph, pw], optional): normalised bin offsets, channel 0 = x and
            1 = y; bin (i, j) moves by gamma * (roi_w * offset[k, 0, i, j],
            roi_h * offset[k, 1, i, j]).
        output_size: (ph, pw) bins per box, or an int for square.
        spatial_scale: feature cells per image pixel (1 / stride).
        sampling_ratio: bilinear samples per bin side, at sub-bin centres; 0 means
            ceil(bin size) in feature cells.
        gamma: offset scale (0.1 in the paper).

    Returns:
        Tensor[K, C, ph, pw]: each bin the mean of its samples (RoIAlign border rule). A box
        with an impossible batch index, or an empty, inverted or non-finite size, pools to 0;
        sampling_ratio=0 takes at most 128 samples per bin side.

    Dtypes as for `deform_conv2d`, autocast included.
    """
    output_size = pair(output_size, "output_size")
    check_deform_roi_pool(input, rois, offset, output_size, spatial_scale, sampling_ratio)
    if operator_backend(input.device) == "reference":
        warn_reference_fallback(input.device)
        if autocast_active(input):
            return run_upcast(reference.deform_roi_pool, input, rois, offset, output_size,
                              spatial_scale, sampling_ratio, gamma)
        return reference.deform_roi_pool(input, rois, offset, output_size, spatial_scale,
                                         sampling_ratio, gamma)
    return torch.ops.deformviz.deform_roi_pool(input, rois, offset, *output_size,
                                               float(spatial_scale), sampling_ratio, float(gamma))


class DeformRoIPool(OffsetHooks, nn.Module):
    """Deformable RoI pooling with the paper's offset branch.

    The box is first pooled plainly; fully connected layers map those features to normalised
    offsets [K, 2, ph, pw] (last layer zero-initialised, so training starts from plain pooling),
    and the box is pooled again with the bins shifted. With `deformable=False` it is plain
    pooling (the twin for ablations).

    `register_offset_hook(fn)` calls `fn(module, offset=..., rois=...)` on every forward pass
    with the normalised offsets [K, 2, ph, pw] (None when not deformable) and the rois [K, 5]
    the operator used.

    Shape:
        input [B, C, H, W], rois [K, 5] -> output [K, C, ph, pw].
    """

    def __init__(self, in_channels: int, output_size: int | tuple[int, int], spatial_scale: float,
                 sampling_ratio: int = 0, gamma: float = 0.1, hidden_channels: int = 1024,
                 deformable: bool = True) -> None:
        super().__init__()
        self._init_offset_hooks()
        self.output_size = pair(output_size, "output_size")
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.gamma = gamma
        self.deformable = deformable
        bins = self.output_size[0] * self.output_size[1]
        self.offset_fc = nn.Sequential(
            nn.Linear(in_channels * bins, hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, 2 * bins),
        ) if deformable else None
        if self.offset_fc is not None:
            nn.init.zeros_(self.offset_fc[-1].weight)
            nn.init.zeros_(self.offset_fc[-1].bias)

    def _pool(self, input: Tensor, rois: Tensor, offset: Tensor | None) -> Tensor:
        return deform_roi_pool(input, rois, offset, output_size=self.output_size,
                               spatial_scale=self.spatial_scale,
                               sampling_ratio=self.sampling_ratio, gamma=self.gamma)

    def predict_offsets(self, input: Tensor, rois: Tensor) -> Tensor | None:
        """Normalised offsets [K, 2, ph, pw] for `rois`, or None when not deformable."""
        if self.offset_fc is None:
            return None
        plain = self._pool(input, rois, None)
        return self.offset_fc(plain.flatten(1)).view(-1, 2, *self.output_size)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        offset = self.predict_offsets(input, rois)
        self._report_offsets(offset=offset, rois=rois)
        return self._pool(input, rois, offset)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, gamma={self.gamma}, "
                f"deformable={self.deformable}")
