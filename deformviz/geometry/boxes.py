"""Box arithmetic on tensors: overlap (IoU) and the random perturbation of boxes into
imperfect proposals. Shared by training (RoI targets) and evaluation (the RoI-head test).

Boxes are [N, 4] (x1, y1, x2, y2) in pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["box_iou", "jitter_boxes"]


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU [N, M] of boxes a [N, 4] and b [M, 4] (x1, y1, x2, y2)."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-6)


def jitter_boxes(boxes: Tensor, generator: torch.Generator, shift: float = 0.25,
                 log_scale: float = 0.3) -> Tensor:
    """Each box [N, 4] moved by up to `shift` of its size and rescaled per side by
    exp(U(-log_scale, log_scale)): the imperfect proposals the RoI head must correct."""
    size = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    centre = centre + (torch.rand(centre.shape, generator=generator) * 2 - 1) * shift * size
    size = size * torch.exp((torch.rand(size.shape, generator=generator) * 2 - 1) * log_scale)
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)
