"""What one deformable layer does to positions: its arithmetic only.

`DeformLayerGeometry`: kernel size, stride, padding, dilation and offset groups of one
deformable convolution; knows where its regular grid p0 + pn lies and how its offset and mask
channels are laid out. (Feature cells <-> image pixels: `feature_to_image.FeatureToImage`,
re-exported here for one release.)

Coordinate conventions used throughout `deformviz.geometry`:

- Points are (y, x), the order of the offset channels (dy before dx). Boxes are
  (x1, y1, x2, y2), the order of detectors.
- Point coordinates are *index* coordinates: feature cell (or pixel) i has its centre at i.
- Box coordinates follow the detectors' aligned-RoI convention: image boxes are *continuous*
  (pixel i spans [i, i + 1]) and become feature-cell coordinates by `box * scale - 0.5`.
  See `FeatureToImage.boxes_to_image`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DeformLayerGeometry", "FeatureToImage"]


def _int_pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class DeformLayerGeometry:
    """The sampling geometry of one deformable convolution.

    Integers given for the pair fields are expanded to (value, value); all pairs are
    (height, width). Offsets and masks of such a layer use the operator library's layout:
    offset [2 * G * K, Hout, Wout] with channel g*2K + 2k = dy and g*2K + 2k + 1 = dx for tap
    k = i * kw + j (row-major), mask [G * K, Hout, Wout] with channel g*K + k, all offsets in
    the layer's INPUT feature cells.

    Attributes:
        kernel_size: (kh, kw).
        stride: (stride_h, stride_w), input cells per output cell.
        padding: (pad_h, pad_w), input cells.
        dilation: (dil_h, dil_w), input cells between neighbouring taps.
        offset_groups: G, the number of independent offset sets.

    Example:
        >>> layer = DeformLayerGeometry.paper_res5()
        >>> layer.regular_locations(torch.tensor([5.0, 7.0]))[[0, 4, 8]].tolist()
        [[3.0, 5.0], [5.0, 7.0], [7.0, 9.0]]
    """

    kernel_size: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    offset_groups: int = 1

    def __post_init__(self) -> None:
        # Frozen, so normalise through object.__setattr__; ints are accepted for convenience.
        for name in ("kernel_size", "stride", "padding", "dilation"):
            object.__setattr__(self, name, _int_pair(getattr(self, name), name))
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"kernel_size, stride and dilation must be positive, got {self}")
        if min(self.padding) < 0:
            raise ValueError(f"padding must be non-negative, got {self.padding}")
        if not isinstance(self.offset_groups, int) or self.offset_groups < 1:
            raise ValueError(f"offset_groups must be a positive int, got {self.offset_groups!r}")

    @classmethod
    def paper_res5(cls, offset_groups: int = 1) -> DeformLayerGeometry:
        """The res5 layers of the paper: 3x3, stride 1, padding 2, dilation 2 (all at stride 16)."""
        return cls((3, 3), (1, 1), (2, 2), (2, 2), offset_groups)

    @property
    def taps(self) -> int:
        """K = kh * kw, the number of sampling points of one filter."""
        return self.kernel_size[0] * self.kernel_size[1]

    @property
    def offset_channels(self) -> int:
        """2 * G * K, the channels of this layer's offset tensor."""
        return 2 * self.offset_groups * self.taps

    @property
    def mask_channels(self) -> int:
        """G * K, the channels of this layer's (DCNv2) mask tensor."""
        return self.offset_groups * self.taps

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(Hout, Wout) of the output map for an input map of (H, W) cells."""
        return tuple(  # type: ignore[return-value]
            (size + 2 * pad - (dil * (kernel - 1) + 1)) // stride + 1
            for size, kernel, stride, pad, dil in zip(
                input_size, self.kernel_size, self.stride, self.padding, self.dilation)
        )

    def kernel_grid(self, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> Tensor:
        """The tap displacements (i * dil_h, j * dil_w) for k = i * kw + j.

        Returns:
            [K, 2] as (y, x), input cells, relative to the filter's top-left tap.
        """
        kh, kw = self.kernel_size
        rows = torch.arange(kh, dtype=dtype, device=device) * self.dilation[0]
        cols = torch.arange(kw, dtype=dtype, device=device) * self.dilation[1]
        return torch.stack([rows.repeat_interleave(kw), cols.repeat(kh)], dim=-1)

    def regular_locations(self, positions: Tensor) -> Tensor:
        """The regular grid p0 + pn of the filter at output positions `positions`.

        p0 + pn = (oy * stride_h - pad_h + i * dil_h, ox * stride_w - pad_w + j * dil_w). The
        positions may be fractional: the stacked-layer view places a filter at a fractional
        output position (see `deformviz.geometry.sampling_locations`).

        Args:
            positions: [..., 2] (y, x) in output cells of this layer.
        Returns:
            [..., K, 2] (y, x) in input cells of this layer, tap k = i * kw + j.
        """
        stride = positions.new_tensor(self.stride)
        padding = positions.new_tensor(self.padding)
        corner = positions * stride - padding
        return corner.unsqueeze(-2) + self.kernel_grid(positions.dtype, positions.device)

    def check_offset(self, offset: Tensor, name: str = "offset") -> None:
        """Raises ValueError unless `offset` is [2 * G * K, H, W] or [B, 2 * G * K, H, W]."""
        if offset.dim() not in (3, 4) or offset.shape[-3] != self.offset_channels:
            raise ValueError(f"{name} must be [{self.offset_channels}, H, W] or "
                             f"[B, {self.offset_channels}, H, W] for {self}, got "
                             f"{tuple(offset.shape)}")

    def check_mask(self, mask: Tensor, offset: Tensor, name: str = "mask") -> None:
        """Raises ValueError unless `mask` is [(B,) G * K, H, W] matching `offset`."""
        expected = (*offset.shape[:-3], self.mask_channels, *offset.shape[-2:])
        if tuple(mask.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(mask.shape)}")


# Deprecated home (one release): the mapping lives in `feature_to_image`. Imported last: that
# module needs nothing from this one.
from .feature_to_image import FeatureToImage  # noqa: E402
