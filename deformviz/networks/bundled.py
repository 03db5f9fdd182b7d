"""The bundled detector as one `Network`: `bundled_network(model)` is a LoadedNetwork like any
other, with what only this network knows.

Its stride-16 grid sits at origin 15 (its TF 'SAME' padding; the probe derives the same from the
trunk's pad calls, and the network's own word is stated as its grid), its deformable layers are
called res5a/b/c, its dense heads give detections and a heat map from the outputs of the same
forward pass (`BundledDetectionHead`), and its RoI head runs on any boxes from the already
computed stage features, no second trunk pass (`BundledRoIHead`). Everything here is in
MODEL-INPUT coordinates (feature cells, or model-input pixels); `deformviz.visualize` maps it
back to the original image.

`capture_dense` / `capture_rois` are the same steps on a bare `DeformableDetector`, kept for
the tests and notebooks that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from deformviz.geometry import DeformLayerGeometry, MapGrid
from deformviz.models.deformable_stage import LAYER_NAMES
from deformviz.models.detector import DeformableDetector, DenseOutput, Detections
from deformviz.probe import ProbeResult

from .loaded_network import LoadedNetwork
from .network import DenseDetections, RoIOutput, probe_network
from .preprocessing import LongSideResize

__all__ = ["DenseCapture", "RoICapture", "capture_dense", "capture_rois", "bundled_aliases",
           "bundled_network", "BundledDetectionHead", "BundledRoIHead"]


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
    grid: MapGrid
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
            its aligned convention by `MapGrid.boxes_for_roi_pool`).
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


def _stage_grid(model: DeformableDetector, input_size: tuple[int, int]
                ) -> dict[tuple[int, int], MapGrid]:
    """The network's own word on its stage grid (TF-'SAME' padding puts it at origin 15)."""
    return {model.feature_size(input_size): model.feature_grid(input_size)}


@dataclass(frozen=True)
class BundledDetectionHead:
    """The dense heads' objects (3x3 heat-map peaks, their sizes and sub-cell centres)."""

    model: DeformableDetector

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    def detect(self, outputs: DenseOutput, input_size: tuple[int, int], score_threshold: float,
               max_detections: int) -> DenseDetections:
        grid = self.model.feature_grid(input_size)
        found = self.model.detect(outputs, grid, score_threshold, max_detections)[0]
        return DenseDetections(found.boxes.cpu(), found.scores.cpu(), found.labels.cpu(),
                               outputs.heatmap_logits[0].sigmoid().cpu())


@dataclass(frozen=True)
class BundledRoIHead:
    """The deformable RoI head on the stage features of the probed pass."""

    model: DeformableDetector

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    @property
    def output_size(self) -> tuple[int, int]:
        return tuple(self.model.roi_head.pool.output_size)  # type: ignore[return-value]

    @property
    def gamma(self) -> float:
        return float(self.model.roi_head.pool.gamma)

    def pool(self, outputs: DenseOutput, input_size: tuple[int, int], boxes: Tensor) -> RoIOutput:
        grid = self.model.feature_grid(input_size)
        rois = _run_roi_head(self.model, outputs.features, grid, boxes.float())
        # The operator saw the boxes shifted into its convention (float32); redo that shift in
        # float64 so the regular bins tile the box exactly.
        return RoIOutput(grid.boxes_for_roi_pool(boxes), rois.offsets, rois.probs, rois.gamma,
                         rois.output_size, rois.spatial_scale, grid)


def bundled_architecture(model: DeformableDetector) -> str:
    """One line: "bundled EfficientNet-Lite0 detector, deformable res5a-c, DCNv2 (modulated)"."""
    deformable = "deformable" if model.config.deformable else "plain (zero offsets)"
    modulated = ", DCNv2 (modulated)" if model.config.modulated else ""
    return f"bundled EfficientNet-Lite0 detector, {deformable} res5a-c{modulated}"


def bundled_network(model: DeformableDetector, source: str = "model", long_side: int = 512,
                    format: str = "bundled") -> LoadedNetwork:
    """The bundled detector (any `DeformableDetector`) as a Network.

    Args:
        model: the detector, eval mode, on any device.
        source: its registered name or weights file, recorded with results.
        long_side: model-input pixels of the longer image side (multiple of 16, 32..4096).
        format: "bundled" (by name) or "deformviz-export" (a file written by `deformviz train`).
    """
    aliases = bundled_aliases(model)
    layers = tuple(aliases.values())
    preprocessing = LongSideResize(long_side)
    architecture = bundled_architecture(model)
    return LoadedNetwork(
        model, preprocessing, format, architecture, layers, layers, source,
        {"format": format, "architecture": architecture,
         "classes": ", ".join(model.class_names),
         "preprocessing": preprocessing.describe()},
        aliases, BundledDetectionHead(model), BundledRoIHead(model),
        lambda input_size: _stage_grid(model, input_size), recorded=("input",))


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
    run = probe_network(bundled_network(model), image, score_threshold=score_threshold,
                        max_detections=max_detections)
    if len(run.probe.layers) != len(model.stage.layers):
        raise RuntimeError(f"expected {len(model.stage.layers)} deformable layer calls, "
                           f"the probe saw {len(run.probe.layers)}")
    found = run.detections
    assert found is not None
    return DenseCapture(
        probe=run.probe,
        features=run.outputs.features,
        heatmap=found.heatmap,  # type: ignore[arg-type]
        detections=Detections(found.boxes, found.scores, found.labels),
        grid=grid,
        input_size=image_size,
    )


def _run_roi_head(model: DeformableDetector, features: Tensor, grid: MapGrid,
                  boxes: Tensor) -> RoICapture:
    device = features.device
    boxes = boxes.to(device=device, dtype=features.dtype).reshape(-1, 4)
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)
    records: list[dict] = []
    pool = model.roi_head.pool
    handle = pool.register_offset_hook(lambda module, **tensors: records.append(tensors))
    try:
        with torch.no_grad():
            probs, refined = model.classify_boxes(features, rois, grid)
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
    return _run_roi_head(model, dense.features, dense.grid, boxes)
