"""What the RoI head does with imperfect boxes: its accuracy, and whether deformable pooling
moves the bins onto the object (the share of bin centres inside the object's mask)."""

from __future__ import annotations

import torch
from torch import Tensor

from deformviz.geometry import deformed_roi_bins
from deformviz.geometry import MapGrid


def bin_centres_in_mask(pool_rois: Tensor, offset: Tensor | None, grid: MapGrid,
                        masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """For each RoI, the fraction of its k x k bin centres that fall inside its object's mask,
    with the regular bins and with the bins the offsets produced.

    Args:
        pool_rois: [K, 5] rois as the pooling operator received them (shifted by
            grid.boxes_for_roi_pool).
        offset: [K, 2, k, k] normalised RoI offsets, or None (plain pooling: both equal).
        masks: per RoI, the bool [H, W] mask of the object it belongs to.
    Returns:
        (regular [K], deformed [K]) fractions in [0, 1].
    """
    size = offset.shape[-2:] if offset is not None else (3, 3)
    # The bundled trunk's square grid: one spatial scale for both axes.
    bins = deformed_roi_bins(pool_rois[:, 1:], 1.0 / grid.stride[1], offset, output_size=tuple(size))
    shift_y, shift_x = grid.roi_shift  # undo boxes_for_roi_pool
    shift = pool_rois.new_tensor([shift_x, shift_y])
    fractions = []
    for rectangles in (bins.regular_pixels, bins.deformed_pixels):
        centres = (rectangles[..., :2] + rectangles[..., 2:]) / 2 + shift  # [K, k, k, 2] (x, y)
        inside = []
        for centre, mask in zip(centres.flatten(1, 2), masks):
            x, y = centre.floor().long().unbind(-1)  # continuous -> pixel index
            valid = (x >= 0) & (x < mask.shape[1]) & (y >= 0) & (y < mask.shape[0])
            hit = torch.zeros_like(valid)
            hit[valid] = mask[y[valid], x[valid]]
            inside.append(hit.float().mean())
        fractions.append(torch.stack(inside) if inside else torch.zeros(0))
    return fractions[0], fractions[1]
