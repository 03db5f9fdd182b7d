"""Losses of the dense heads (CenterNet) and the RoI head."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from deformviz.models.detector import DenseOutput

from .targets import DenseTargets, RoISamples


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of objects."""
    prob = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    pos = -((1 - prob) ** alpha) * prob.log() * positive
    neg = -((1 - target) ** beta) * (prob ** alpha) * (1 - prob).log() * (1 - positive)
    return (pos.sum() + neg.sum()) / positive.sum().clamp(min=1)


def dense_losses(output: DenseOutput, targets: DenseTargets) -> dict[str, Tensor]:
    mask = targets.mask.unsqueeze(1).expand_as(targets.log_size)
    count = targets.mask.sum().clamp(min=1)
    return {
        "heatmap": focal_loss(output.heatmap_logits, targets.heatmap),
        "size": 0.1 * F.l1_loss(output.log_size[mask], targets.log_size[mask], reduction="sum") / count,
        "offset": F.l1_loss(output.center_offset[mask], targets.center_offset[mask], reduction="sum") / count,
    }


def roi_losses(class_logits: Tensor, box_deltas: Tensor, samples: RoISamples,
               num_classes: int) -> dict[str, Tensor]:
    foreground = samples.labels < num_classes
    box = box_deltas.new_zeros(())
    if foreground.any():
        box = F.smooth_l1_loss(box_deltas[foreground], samples.box_targets[foreground], beta=0.1)
    return {"roi_class": F.cross_entropy(class_logits, samples.labels), "roi_box": box}


__all__ = ["focal_loss", "dense_losses", "roi_losses"]
