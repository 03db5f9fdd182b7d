"""Where the bins of a deformable RoI pooling lie (the paper's Fig. 7).

Follows the convention of `deformviz.ops.deform_roi_pool` (mmcv's aligned one), in feature
cells:

    x1' = x1 * scale - 0.5,  roi_w' = (x2 - x1) * scale,  bin_w = roi_w' / pw   (same for y)
    bin (i, j) spans [x1' + j * bin_w, x1' + (j + 1) * bin_w] x [y1' + i * bin_h, ...]
    deformed bin (i, j) = regular bin shifted by (gamma * roi_w' * dp_hat_x[i, j],
                                                  gamma * roi_h' * dp_hat_y[i, j])

Back to image pixels the inverse of `box * scale - 0.5` is `pixel = (cell + 0.5) / scale`, in
the same continuous coordinates as the input box (pixel i spans [i, i + 1]); so with zero
offsets the regular bins tile the box exactly, and a bin moves by gamma * (x2 - x1) * dp_hat_x
pixels in x. (To overlay on an image drawn with pixel i centred at i, subtract 0.5; see
`FeatureToImage.boxes_to_image`.) The pooling samples inside each bin; the rectangles here are
the bins' extents, not the sample points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .feature_to_image import FeatureToImage

__all__ = ["RoIBins", "deformed_roi_bins"]


@dataclass(frozen=True, eq=False)
class RoIBins:
    """Regular and deformed bins of one or more RoIs.

    Every tensor is [..., ph, pw, 4] as (x1, y1, x2, y2), bin (i, j) at [..., i, j] (i = row).

    Attributes:
        regular_cells: the undeformed bins, in feature cells (aligned-RoI coordinates).
        deformed_cells: the bins shifted by the offsets, in feature cells.
        regular_pixels: the undeformed bins in the input box's pixels (continuous coordinates).
        deformed_pixels: the deformed bins in the input box's pixels.
        spatial_scale: feature cells per pixel used (1 / stride).
    """

    regular_cells: Tensor
    deformed_cells: Tensor
    regular_pixels: Tensor
    deformed_pixels: Tensor
    spatial_scale: float

    def to_image(self, mapping: FeatureToImage) -> tuple[Tensor, Tensor]:
        """Regular and deformed bins in pixels of the original image (undoing a resize).

        Args:
            mapping: the feature map's FeatureToImage; its stride must be 1 / spatial_scale.
        Returns:
            (regular, deformed), each [..., ph, pw, 4] (x1, y1, x2, y2) in continuous
            original-image pixels.
        """
        stride = 1.0 / self.spatial_scale
        if not all(math.isclose(s, stride, rel_tol=1e-6) for s in mapping.stride):
            raise ValueError(f"mapping.stride {mapping.stride} does not match spatial_scale "
                             f"{self.spatial_scale} (stride {stride})")
        return (mapping.boxes_to_image(self.regular_cells),
                mapping.boxes_to_image(self.deformed_cells))


def deformed_roi_bins(
    boxes: Tensor,
    spatial_scale: float,
    offset: Tensor | None = None,
    output_size: int | tuple[int, int] | None = None,
    gamma: float = 0.1,
) -> RoIBins:
    """The k x k bins of deformable RoI pooling, regular and deformed.

    Args:
        boxes: [..., 4] (x1, y1, x2, y2) in (model-input) image pixels, continuous coordinates
            as detectors give them.
        spatial_scale: feature cells per image pixel, 1 / stride (e.g. 1/16).
        offset: [..., 2, ph, pw] normalised offsets dp_hat, channel 0 = x, 1 = y (the RoI
            pooling layout, x first), leading dimensions broadcast with `boxes`; None for the
            regular bins only.
        output_size: (ph, pw) or k; optional when `offset` is given.
        gamma: the offset scale of the paper (0.1).
    Returns:
        RoIBins with [..., ph, pw, 4] rectangles in feature cells and in image pixels.

    Example:
        >>> bins = deformed_roi_bins(torch.tensor([0.0, 0.0, 48.0, 96.0]), 1 / 16, output_size=3)
        >>> bins.regular_pixels[2, 1].tolist()
        [16.0, 64.0, 32.0, 96.0]
    """
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"boxes must be [..., 4], got {tuple(boxes.shape)}")
    if not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be positive, got {spatial_scale}")
    if offset is not None:
        if offset.dim() < 3 or offset.shape[-3] != 2:
            raise ValueError(f"offset must be [..., 2, ph, pw], got {tuple(offset.shape)}")
        size = (int(offset.shape[-2]), int(offset.shape[-1]))
        if output_size is not None and _pair(output_size) != size:
            raise ValueError(f"output_size {output_size} does not match offset of shape "
                             f"{tuple(offset.shape)}")
    elif output_size is None:
        raise ValueError("output_size is needed when offset is None")
    else:
        size = _pair(output_size)
    pooled_h, pooled_w = size

    dtype = boxes.dtype if boxes.is_floating_point() else torch.float32
    if offset is not None:
        dtype = torch.promote_types(dtype, offset.dtype)
    boxes = boxes.to(dtype)
    x1, y1, x2, y2 = (boxes * spatial_scale).unbind(-1)
    start_x, start_y = x1 - 0.5, y1 - 0.5
    roi_w, roi_h = x2 - x1, y2 - y1  # feature cells; no minimum size, as in the operator

    # Bin edges as fractions of the box, so the last edge is exactly the box's end.
    frac_x = torch.arange(pooled_w + 1, dtype=dtype, device=boxes.device) / pooled_w
    frac_y = torch.arange(pooled_h + 1, dtype=dtype, device=boxes.device) / pooled_h
    edges_x = start_x[..., None] + roi_w[..., None] * frac_x  # [..., pw + 1]
    edges_y = start_y[..., None] + roi_h[..., None] * frac_y  # [..., ph + 1]
    grid_shape = (*boxes.shape[:-1], pooled_h, pooled_w)
    left = edges_x[..., None, :-1].expand(grid_shape)
    right = edges_x[..., None, 1:].expand(grid_shape)
    top = edges_y[..., :-1, None].expand(grid_shape)
    bottom = edges_y[..., 1:, None].expand(grid_shape)
    regular = torch.stack([left, top, right, bottom], dim=-1)

    if offset is None:
        deformed = regular.clone()
    else:
        offset = offset.to(dtype)
        shift_x = gamma * roi_w[..., None, None] * offset[..., 0, :, :]
        shift_y = gamma * roi_h[..., None, None] * offset[..., 1, :, :]
        shift = torch.stack([shift_x, shift_y, shift_x, shift_y], dim=-1)
        regular, shift = torch.broadcast_tensors(regular, shift)
        deformed = regular + shift

    def to_pixels(cells: Tensor) -> Tensor:
        return (cells + 0.5) / spatial_scale  # inverse of pixel * scale - 0.5

    return RoIBins(regular.contiguous(), deformed, to_pixels(regular), to_pixels(deformed),
                   float(spatial_scale))


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"output_size must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]
