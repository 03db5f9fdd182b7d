"""`evaluate`: the deformable network and its plain twin on held-out generated scenes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from deformviz.errors import InputError
from deformviz.geometry import ChainLayer
from deformviz.geometry.boxes import box_iou, jitter_boxes
from deformviz.models.detector import DeformableDetector
from deformviz.models.efficientnet_lite import EfficientNetLite0Trunk
from deformviz.models.feature_grid import check_input_side
from deformviz.scenes.dataset import SceneDataset, collate_scenes
from deformviz.scenes.generator import SceneConfig
from deformviz.statistics.accumulators import DilationAccumulator
from deformviz.statistics.image_statistics import image_statistics
from deformviz.statistics.size_classes import ImageObjects

from .detection import average_precision
from .dilation_table import CATEGORIES, size_thresholds
from .roi import bin_centres_in_mask


@dataclass(frozen=True)
class EvaluationConfig:
    """The held-out set: scenes of a seed the training never sees (training uses seed 0)."""

    scenes: int = 300
    seed: int = 1
    batch_size: int = 16
    image_size: int | None = None  # scene side in pixels; None: the size the model was trained at
    score_threshold: float = 0.05
    roi_min_iou: float = 0.5  # jittered boxes kept for the RoI metrics

    def __post_init__(self) -> None:
        if self.image_size is not None:
            check_input_side(self.image_size, EfficientNetLite0Trunk.stride, minimum=32)


class _OffsetRecorder:
    """Collects the offsets each deformable layer (and the RoI pooling) used, via the hooks."""

    def __init__(self, model: DeformableDetector) -> None:
        self.layers: list[torch.Tensor | None] = [None] * len(model.stage.layers)
        self.roi: torch.Tensor | None = None
        self.handles = [layer.register_offset_hook(self._layer_hook(i))
                        for i, layer in enumerate(model.stage.layers)]
        self.handles.append(model.roi_head.pool.register_offset_hook(self._roi_hook))

    def _layer_hook(self, index: int):
        def hook(module, offset, mask):
            self.layers[index] = offset.detach()
        return hook

    def _roi_hook(self, module, offset, rois):
        self.roi = None if offset is None else offset.detach()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def evaluate(model: DeformableDetector, twin: DeformableDetector,
             config: EvaluationConfig = EvaluationConfig(),
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Detection AP of both networks, Table 2 of the deformable one, RoI metrics of both.

    Returns a JSON-ready dict (see docs/MODEL_CARD.md for the fields).

    Raises:
        InputError: either network is not one of deformviz's own detectors (bundled or
            exported by `deformviz train`): only those detect the scene classes.
    """
    for network in (model, twin):
        if not isinstance(network, DeformableDetector):
            raise InputError(f"evaluate measures deformviz's own detectors (bundled or exported "
                             f"by 'deformviz train'), not a {type(network).__name__}")
    side = config.image_size or model.config.training_image_size
    dataset = SceneDataset(config.scenes, seed=config.seed, with_masks=True,
                           config=SceneConfig(image_size=(side, side)))
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, collate_fn=collate_scenes)
    models = {"deformable": model.eval(), "plain": twin.eval()}
    recorder = _OffsetRecorder(model)
    num_classes = len(model.class_names)
    generator = torch.Generator().manual_seed(config.seed)
    detections = {name: [] for name in models}
    ground_truth = []
    # Table 2: the same per-image measurement and exact sums as `deformviz stats`.
    dilation = DilationAccumulator(tuple(model.stage.layer_names))
    thresholds = size_thresholds(float(side))
    roi_correct = {name: [] for name in models}
    in_mask = {"regular": [], "deformed": []}
    device = next(model.parameters()).device
    done = 0
    try:
        for images, targets in loader:
            # The networks run on their device; everything measured comes back to the CPU.
            images = images.to(device)
            grid = model.feature_grid(tuple(images.shape[-2:]))
            ground_truth += [(t["boxes"], t["labels"]) for t in targets]
            trunk = model.trunk_features(images)  # the twin shares the frozen ImageNet trunk
            dense = {name: m.dense(trunk) for name, m in models.items()}
            for name, m in models.items():
                for found in m.detect(dense[name], grid, config.score_threshold, 100):
                    detections[name].append((found.boxes.cpu(), found.scores.cpu(), found.labels.cpu()))
            # Table 2: every unit of every image, by the smallest box that contains its centre.
            cells, size = grid, tuple(trunk.shape[-2:])
            geometry, names = model.stage.layer_geometry(), model.stage.layer_names
            for b, target in enumerate(targets):
                chain = [ChainLayer(g, offsets[b], None, size, cells, cells)
                         for g, offsets in zip(geometry, recorder.layers)]
                objects = ImageObjects.from_boxes(target["boxes"], tuple(images.shape[-2:]))
                image_statistics(chain, names, objects, thresholds, share_levels=0).add_to(dilation)
            # RoI head on jittered ground-truth boxes, the same boxes for both networks.
            rois, labels, masks = [], [], []
            for b, target in enumerate(targets):
                if len(target["boxes"]) == 0:
                    continue
                jittered = jitter_boxes(target["boxes"], generator)
                iou = box_iou(jittered, target["boxes"]).diagonal()
                keep = iou >= config.roi_min_iou
                rois.append(torch.cat([torch.full((int(keep.sum()), 1), float(b)), jittered[keep]], 1))
                labels.append(target["labels"][keep])
                masks += list(target["masks"][keep])
            if rois:
                rois_t, labels_t = torch.cat(rois), torch.cat(labels)
                for name, m in models.items():
                    probs, _ = m.classify_boxes(dense[name].features, rois_t.to(device), grid)
                    roi_correct[name].append(probs.argmax(1).cpu() == labels_t)
                pool_rois = torch.cat([rois_t[:, :1], grid.boxes_for_roi_pool(rois_t[:, 1:])], 1)
                # recorder.roi holds the offsets of the deformable network's pass above.
                roi_offsets = None if recorder.roi is None else recorder.roi.cpu()
                regular, deformed = bin_centres_in_mask(pool_rois, roi_offsets, grid, masks)
                in_mask["regular"].append(regular)
                in_mask["deformed"].append(deformed)
            done += len(targets)
            if progress is not None:
                progress(done, config.scenes)
    finally:
        recorder.remove()

    report = {"config": {**asdict(config), "image_size": side},
              "detection": {}, "roi": {}, "effective_dilation": {}}
    for name in models:
        ap = average_precision(detections[name], ground_truth, num_classes)
        report["detection"][name] = {
            "mAP50": float(sum(a for a in ap if not math.isnan(a)) / max(1, sum(not math.isnan(a) for a in ap))),
            "AP50_per_class": dict(zip(model.class_names, ap)),
        }
        correct = torch.cat(roi_correct[name]) if roi_correct[name] else torch.zeros(0)
        report["roi"][f"{name}_accuracy"] = float(correct.float().mean()) if len(correct) else float("nan")
    report["roi"]["boxes"] = int(sum(len(c) for c in roi_correct["deformable"]))
    for key, values in in_mask.items():
        report["roi"][f"bin_centres_in_mask_{key}"] = float(torch.cat(values).mean()) if values else float("nan")
    report["effective_dilation"] = {"thresholds_px2": thresholds.to_json(), **dilation.summary()}
    return report


__all__ = ["EvaluationConfig", "evaluate", "CATEGORIES"]
