"""Training targets: CenterNet heat maps at stride 16, and jittered boxes for the RoI head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deformviz.geometry.boxes import box_iou, jitter_boxes
from deformviz.geometry import MapGrid


@dataclass
class DenseTargets:
    """heatmap [B, C, h, w] in [0, 1] (1 exactly at object centres); log_size [B, 2, h, w]
    (log box width, height in pixels); center_offset [B, 2, h, w] (dx, dy from the cell, in
    cells); mask [B, h, w] true at the centre cells."""

    heatmap: Tensor
    log_size: Tensor
    center_offset: Tensor
    mask: Tensor


def box_centers_in_cells(boxes: Tensor, grid: MapGrid) -> Tensor:
    """Boxes [N, 4] in continuous pixels -> centres [N, 2] as (x, y) feature cells."""
    centre_pixels = (boxes[:, :2] + boxes[:, 2:]) / 2 - 0.5  # continuous -> pixel index
    return grid.to_cells(centre_pixels.flip(-1)).flip(-1)  # the grid speaks (y, x)


def dense_targets(boxes: list[Tensor], labels: list[Tensor], num_classes: int,
                  feature_size: tuple[int, int], grid: MapGrid) -> DenseTargets:
    """CenterNet targets: a Gaussian per object on its class's heat map (sigma a sixth of the
    box in cells, at least 0.4 cells), size and sub-cell offset at the centre cell."""
    batch, (height, width) = len(boxes), feature_size
    heatmap = torch.zeros(batch, num_classes, height, width)
    log_size = torch.zeros(batch, 2, height, width)
    offset = torch.zeros(batch, 2, height, width)
    mask = torch.zeros(batch, height, width, dtype=torch.bool)
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    for b, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        if len(image_boxes) == 0:
            continue
        centres = box_centers_in_cells(image_boxes, grid)
        sizes = image_boxes[:, 2:] - image_boxes[:, :2]
        sigmas = (sizes / sizes.new_tensor(grid.stride[::-1]) / 6).clamp(min=0.4)  # (w, h)
        # Largest first, so a small object's centre cell keeps the small object's size target.
        for n in torch.argsort(sizes.prod(1), descending=True).tolist():
            (cx, cy), (sx, sy) = centres[n].tolist(), sigmas[n].tolist()
            gauss = torch.exp(-((xs - cx) ** 2) / (2 * sx ** 2) - ((ys - cy) ** 2) / (2 * sy ** 2))
            cls = int(image_labels[n])
            heatmap[b, cls] = torch.maximum(heatmap[b, cls], gauss)
            ix, iy = min(max(round(cx), 0), width - 1), min(max(round(cy), 0), height - 1)
            heatmap[b, cls, iy, ix] = 1.0
            log_size[b, :, iy, ix] = sizes[n].clamp(min=1).log()
            offset[b, 0, iy, ix], offset[b, 1, iy, ix] = cx - ix, cy - iy
            mask[b, iy, ix] = True
    return DenseTargets(heatmap, log_size, offset, mask)


@dataclass
class RoISamples:
    """rois [K, 5] (batch index, box in pixels); labels [K] (num_classes = background);
    box_targets [K, 4] deltas to the ground truth as fractions of the roi's size (0 for
    background); matched [K] index of the ground-truth box in its image, -1 for background."""

    rois: Tensor
    labels: Tensor
    box_targets: Tensor
    matched: Tensor


def sample_rois(boxes: list[Tensor], labels: list[Tensor], num_classes: int,
                image_size: tuple[int, int], generator: torch.Generator, per_object: int = 2,
                background_per_image: int = 2, foreground_iou: float = 0.4) -> RoISamples:
    """Jittered ground-truth boxes (foreground when IoU >= foreground_iou) and random boxes
    that overlap no object (background) for every image of a batch."""
    height, width = image_size
    rois, out_labels, targets, matched = [], [], [], []
    for b, (gt, gt_labels) in enumerate(zip(boxes, labels)):
        candidates = [jitter_boxes(gt, generator) for _ in range(per_object)] if len(gt) else []
        centres = torch.rand(background_per_image, 2, generator=generator) * torch.tensor([width, height])
        sides = 16 * torch.exp(torch.rand(background_per_image, 2, generator=generator) * 2.5)
        candidates.append(torch.cat([centres - sides / 2, centres + sides / 2], dim=1))
        proposals = torch.cat(candidates)
        if len(gt):
            iou = box_iou(proposals, gt)
            best_iou, best = iou.max(dim=1)
        else:
            best_iou = torch.zeros(len(proposals))
            best = torch.zeros(len(proposals), dtype=torch.long)
        foreground = best_iou >= foreground_iou
        # Random boxes that touch an object but do not cover it are ambiguous: drop them.
        keep = foreground | (best_iou < 0.1)
        proposals, best, foreground = proposals[keep], best[keep], foreground[keep]
        roi_labels = torch.full((len(proposals),), num_classes, dtype=torch.long)
        delta = torch.zeros(len(proposals), 4)
        if foreground.any():
            roi_labels[foreground] = gt_labels[best[foreground]]
            fg = proposals[foreground]
            size = (fg[:, 2:] - fg[:, :2]).repeat(1, 2)
            delta[foreground] = (gt[best[foreground]] - fg) / size
        rois.append(torch.cat([torch.full((len(proposals), 1), float(b)), proposals], dim=1))
        out_labels.append(roi_labels)
        targets.append(delta)
        matched.append(torch.where(foreground, best, torch.full_like(best, -1)))
    return RoISamples(torch.cat(rois), torch.cat(out_labels), torch.cat(targets), torch.cat(matched))
