"""The network deformviz ships: ImageNet trunk -> deformable stage -> dense and RoI heads."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deformviz.geometry import MapGrid
from deformviz.scene_classes import CLASS_NAMES

from .deformable_stage import DeformableStage
from .efficientnet_lite import EfficientNetLite0Trunk
from .heads import CenterHeads, RoIHead, apply_box_deltas


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that defines the architecture (saved with the weights)."""

    class_names: tuple[str, ...] = CLASS_NAMES
    stage_channels: int = 128
    deformable: bool = True  # False: offsets frozen at zero and plain RoI pooling (the twin)
    modulated: bool = False  # DCNv1, as in the paper
    roi_output_size: int = 3
    roi_hidden: int = 256
    head_hidden: int = 64
    # Not architecture, but part of what the weights mean: the side (pixels) of the square
    # generated scenes it was trained on. Evaluation generates its held-out scenes at this size.
    # (Weight files saved before this field existed were trained at 256.)
    training_image_size: int = 256

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DetectorConfig":
        values = dict(values)
        values["class_names"] = tuple(values["class_names"])
        return cls(**values)


@dataclass
class Detections:
    """Objects found in one image. boxes [N, 4] (x1, y1, x2, y2) in input pixels, scores [N],
    labels [N] indices into the model's class_names."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor


@dataclass
class DenseOutput:
    """Per-cell predictions for a batch at the trunk's stride (see CenterHeads)."""

    features: Tensor
    heatmap_logits: Tensor
    log_size: Tensor
    center_offset: Tensor


class DeformableDetector(nn.Module):
    """Detects the scene classes at stride 16 with a stage of three deformable layers.

    Images are RGB in [0, 1], [B, 3, H, W], H and W multiples of 16 (resize first). The trunk is
    frozen (ImageNet features that mean something on real photos); the stage and heads train.
    """

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        super().__init__()
        self.config = config
        self.trunk = EfficientNetLite0Trunk()
        self.trunk.requires_grad_(False)
        self.stage = DeformableStage(self.trunk.out_channels, config.stage_channels,
                                     config.deformable, config.modulated)
        self.heads = CenterHeads(config.stage_channels, len(config.class_names),
                                 config.head_hidden)
        self.roi_head = RoIHead(config.stage_channels, len(config.class_names),
                                self.trunk.stride, config.roi_output_size, config.roi_hidden,
                                config.deformable)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    def feature_grid(self, image_size: tuple[int, int]) -> MapGrid:
        """Where the stride-16 cells sit on an (H, W) input (origin 15: the trunk's TF 'SAME'
        padding); H and W must give the same origin, which holds when both are multiples of
        16."""
        origin_y = self.trunk.cell_center_offset(image_size[0])
        origin_x = self.trunk.cell_center_offset(image_size[1])
        if origin_y != origin_x:
            raise ValueError(f"input sides {image_size} must be multiples of {self.trunk.stride}")
        return MapGrid(float(self.trunk.stride), origin_y)

    def feature_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the stride-16 maps for an (H, W) input (TF 'SAME': ceil)."""
        stride = self.trunk.stride
        return tuple(-(-side // stride) for side in image_size)  # type: ignore[return-value]

    def train(self, mode: bool = True) -> "DeformableDetector":
        super().train(mode)
        self.trunk.eval()  # frozen: its batch-norm statistics stay ImageNet's
        return self

    def trunk_features(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] in [0, 1] -> trunk features [B, 112, H/16, W/16]."""
        with torch.no_grad():
            return self.trunk(self.trunk.normalize(images))

    def dense(self, trunk_features: Tensor) -> DenseOutput:
        features = self.stage(trunk_features)
        heatmap, log_size, offset = self.heads(features)
        return DenseOutput(features, heatmap, log_size, offset)

    def forward(self, images: Tensor) -> DenseOutput:
        return self.dense(self.trunk_features(images))

    def classify_boxes(self, features: Tensor, rois: Tensor, grid: MapGrid
                       ) -> tuple[Tensor, Tensor]:
        """RoI head on boxes in input pixels.

        Args:
            features: stage output [B, C, h, w].
            rois: [K, 5] (batch index, x1, y1, x2, y2) in input pixels.
        Returns:
            class probabilities [K, num_classes + 1] (last = background) and refined boxes
            [K, 4] in input pixels.
        """
        pool_rois = torch.cat([rois[:, :1], grid.boxes_for_roi_pool(rois[:, 1:])], dim=1)
        logits, deltas = self.roi_head(features, pool_rois)
        return logits.softmax(-1), apply_box_deltas(rois[:, 1:], deltas)

    @torch.no_grad()
    def detect(self, dense: DenseOutput, grid: MapGrid, score_threshold: float = 0.3,
               max_detections: int = 50) -> list[Detections]:
        """Objects from the dense heads: local maxima of the heat map (3x3), their sizes and
        sub-cell centres, in input pixels."""
        heat = dense.heatmap_logits.sigmoid()
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        batch, classes, height, width = heat.shape
        results = []
        for b in range(batch):
            scores, flat = peaks[b].flatten().topk(min(max_detections, peaks[b].numel()))
            keep = scores >= score_threshold
            scores, flat = scores[keep], flat[keep]
            labels = flat // (height * width)
            cell = flat % (height * width)
            cy, cx = (cell // width).to(heat.dtype), (cell % width).to(heat.dtype)
            dx, dy = dense.center_offset[b, 0].flatten()[cell], dense.center_offset[b, 1].flatten()[cell]
            centre = grid.to_pixels(torch.stack([cy + dy, cx + dx], dim=1)).flip(-1)  # (x, y)
            size = dense.log_size[b, :, cell // width, cell % width].T.exp()
            # Pixel-index centre -> continuous box edges: pixel k spans [k, k + 1).
            boxes = torch.cat([centre + 0.5 - size / 2, centre + 0.5 + size / 2], dim=1)
            results.append(Detections(boxes, scores, labels))
        return results


__all__ = ["DeformableDetector", "DetectorConfig", "Detections", "DenseOutput"]
