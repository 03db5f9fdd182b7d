"""The bundled detector as one adapter of the probe: run it once on an image, keep what the
figures need.

`capture_dense` is `deformviz.probe.probe` on the detector, with what only this network knows:
its stride-16 grid sits at origin 15 (its TF 'SAME' padding; the probe derives the same from the
trunk's pad calls, and the network's own word is passed as the override), its deformable layers
are called res5a/b/c, and its dense heads give detections and a heat map from the outputs of
the same forward pass. RoI bins for any boxes come from a second, cheap
step on the already computed stage features (no second trunk pass). Everything here is in
MODEL-INPUT coordinates (feature cells, or model-input pixels); `deformviz.visualize` maps it
back to the original image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deformviz.geometry import DeformLayerGeometry, MapGrid
from deformviz.models.deformable_stage import LAYER_NAMES
from deformviz.models.detector import DeformableDetector, Detections
from deformviz.models.feature_grid import FeatureGrid
from deformviz.probe import ProbeResult, probe

__all__ = ["DenseCapture", "RoICapture", "capture_dense", "capture_rois", "bundled_aliases"]


def bundled_aliases(model: DeformableDetector) -> dict[str, str]:
    """The paper's names of the bundled stage's layers -> their qualified module names."""
    return {name: f"stage.layers.{i}" for i, name in enumerate(LAYER_NAMES[:len(model.stage.layers)])}


@dataclass(frozen=True, eq=False)
class DenseCapture:
    """What one forward pass of one image produced.

    Attributes:
        probe: the probe's records of the three deformable layers (offsets [1, 18, h, w],
            grids: stride 16, origin 15), aliases res5a/b/c.
        features: [1, C, h, w] stage output, for RoI pooling without re-running the trunk.
        heatmap: [num_classes, h, w] object-centre probabilities.
        detections: the dense heads' objects, boxes [N, 4] in continuous model-input pixels.
        grid: where the feature cells sit on the model input.
        input_size: (h_px, w_px) of the model input.
    """

    probe: ProbeResult
    features: Tensor
    heatmap: Tensor
    detections: Detections
    grid: FeatureGrid
    input_size: tuple[int, int]

    @property
    def offsets(self) -> tuple[Tensor, ...]:
        """Per layer, bottom to top, [2 * G * K, h, w] offsets in input cells (dy, dx per tap)."""
        return tuple(record.offset[0] for record in self.probe.layers)

    @property
    def masks(self) -> tuple[Tensor | None, ...]:
        """Per layer, [G * K, h, w] (after the sigmoid) or None (DCNv1)."""
        return tuple(None if r.mask is None else r.mask[0] for r in self.probe.layers)

    @property
    def layers(self) -> tuple[DeformLayerGeometry, ...]:
        """Per layer, its geometry."""
        return tuple(record.geometry for record in self.probe.layers)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Per layer, its name (res5a, res5b, res5c)."""
        return tuple(self.probe.label(record.name) for record in self.probe.layers)

    @property
    def feature_size(self) -> tuple[int, int]:
        """(h, w) of the top layer's output map, in cells."""
        return self.probe.layers[-1].output_size


@dataclass(frozen=True, eq=False)
class RoICapture:
    """The RoI head on K boxes.

    Attributes:
        boxes: [K, 4] (x1, y1, x2, y2) the boxes asked for, continuous model-input pixels.
        pool_boxes: [K, 4] the same boxes as the pooling operator received them (moved into
            its aligned convention by `FeatureGrid.boxes_for_roi_pool`).
        offsets: [K, 2, ph, pw] normalised bin offsets (x first), or None (plain pooling).
        probs: [K, num_classes + 1] class probabilities, last = background.
        refined: [K, 4] the head's refined boxes, continuous model-input pixels.
        gamma: the pooling's offset scale (0.1).
        output_size: (ph, pw) bins per box.
        spatial_scale: feature cells per model-input pixel (1 / stride).
    """

    boxes: Tensor
    pool_boxes: Tensor
    offsets: Tensor | None
    probs: Tensor
    refined: Tensor
    gamma: float
    output_size: tuple[int, int]
    spatial_scale: float


def _single(records: list[dict], what: str) -> dict:
    # Exactly one call per forward: anything else means the hooks saw another pass.
    if len(records) != 1:
        raise RuntimeError(f"expected one {what} offset report per forward pass, got {len(records)}")
    return records[0]


@torch.no_grad()
def capture_dense(model: DeformableDetector, image: Tensor, score_threshold: float = 0.3,
                  max_detections: int = 50) -> DenseCapture:
    """One forward pass under the probe.

    Args:
        model: the detector, in eval mode.
        image: [1, 3, H, W] RGB in [0, 1] on the model's device, H and W multiples of 16.
        score_threshold: minimum heat-map score of a detection.
        max_detections: most detections kept.
    Returns:
        DenseCapture, tensors on the CPU (features stay on the model's device).
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"capture_dense takes one image [1, 3, H, W], got {tuple(image.shape)}")
    image_size = (int(image.shape[-2]), int(image.shape[-1]))
    grid = model.feature_grid(image_size)
    # The network's own word on its stage grid (TF-'SAME' padding puts it at origin 15).
    overrides = {grid.feature_size(image_size): MapGrid(grid.stride, grid.origin)}
    result = probe(model, image, grid_overrides=overrides, aliases=bundled_aliases(model),
                   keep_outputs=True)
    dense = result.outputs
    if len(result.layers) != len(model.stage.layers):
        raise RuntimeError(f"expected {len(model.stage.layers)} deformable layer calls, "
                           f"the probe saw {len(result.layers)}")
    detections = model.detect(dense, grid, score_threshold, max_detections)[0]
    detections = Detections(detections.boxes.cpu(), detections.scores.cpu(),
                            detections.labels.cpu())
    return DenseCapture(
        probe=ProbeResult(result.layers, result.input_size, None, result.aliases, result.notes),
        features=dense.features,
        heatmap=dense.heatmap_logits[0].sigmoid().cpu(),
        detections=detections,
        grid=grid,
        input_size=image_size,
    )


@torch.no_grad()
def capture_rois(model: DeformableDetector, dense: DenseCapture, boxes: Tensor) -> RoICapture:
    """The RoI head on `boxes`, from the features of `dense` (no trunk pass).

    Args:
        model: the model that produced `dense`.
        dense: its capture of the image.
        boxes: [K, 4] (x1, y1, x2, y2) continuous model-input pixels, K >= 1.
    Returns:
        RoICapture with the pooling's bin offsets and the head's class probabilities.
    """
    device = dense.features.device
    boxes = boxes.to(device=device, dtype=dense.features.dtype).reshape(-1, 4)
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)
    records: list[dict] = []
    pool = model.roi_head.pool
    handle = pool.register_offset_hook(lambda module, **tensors: records.append(tensors))
    try:
        probs, refined = model.classify_boxes(dense.features, rois, dense.grid)
    finally:
        handle.remove()
    report = _single(records, "RoI pooling")
    offsets = report["offset"]
    return RoICapture(
        boxes=boxes.cpu(),
        pool_boxes=report["rois"][:, 1:].detach().cpu(),
        offsets=None if offsets is None else offsets.detach().cpu(),
        probs=probs.cpu(),
        refined=refined.cpu(),
        gamma=float(pool.gamma),
        output_size=tuple(pool.output_size),  # type: ignore[arg-type]
        spatial_scale=float(pool.spatial_scale),
    )
