"""Heads on the deformable stage: dense object centres and sizes, and an RoI classifier."""

from __future__ import annotations

import math

from torch import Tensor, nn

from deformviz.ops import DeformRoIPool


def _conv_head(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, out_channels, 1))


class CenterHeads(nn.Module):
    """CenterNet-style dense heads: a per-class centre heat map, the box size and the centre's
    sub-cell position at every feature cell.

    Shape:
        features [B, C, h, w] ->
        heatmap_logits [B, num_classes, h, w],
        log_size [B, 2, h, w] (log of box width, height in input pixels),
        center_offset [B, 2, h, w] (dx, dy of the centre from the cell, in cells).
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.heatmap = _conv_head(in_channels, hidden, num_classes)
        self.size = _conv_head(in_channels, hidden, 2)
        self.offset = _conv_head(in_channels, hidden, 2)
        # Start with a low prior on objects (focal-loss practice: p = 0.1).
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - 0.1) / 0.1))
        nn.init.constant_(self.size[-1].bias, math.log(48.0))

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.heatmap(features), self.size(features), self.offset(features)


class RoIHead(nn.Module):
    """Classifies a box and refines it from deformable RoI pooling (k x k bins, the paper's
    offset branch, gamma 0.1).

    Shape:
        features [B, C, h, w], rois [K, 5] (batch index, box already in the pooling convention)
        -> class_logits [K, num_classes + 1] (last = background),
           box_deltas [K, 4] (dx1, dy1, dx2, dy2 as fractions of the box width/height).
    """

    def __init__(self, in_channels: int, num_classes: int, stride: int, output_size: int = 3,
                 hidden: int = 256, deformable: bool = True) -> None:
        super().__init__()
        self.pool = DeformRoIPool(in_channels, output_size, spatial_scale=1.0 / stride,
                                  sampling_ratio=2, gamma=0.1, hidden_channels=hidden,
                                  deformable=deformable)
        self.fc = nn.Sequential(nn.Linear(in_channels * output_size ** 2, hidden),
                                nn.ReLU(inplace=True))
        self.classifier = nn.Linear(hidden, num_classes + 1)
        self.box = nn.Linear(hidden, 4)
        nn.init.zeros_(self.box.weight)
        nn.init.zeros_(self.box.bias)

    def forward(self, features: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.pool(features, rois)
        hidden = self.fc(pooled.flatten(1))
        return self.classifier(hidden), self.box(hidden)


def apply_box_deltas(boxes: Tensor, deltas: Tensor) -> Tensor:
    """Boxes [K, 4] moved by deltas [K, 4] given as fractions of each box's width/height."""
    size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    return boxes + deltas * size
