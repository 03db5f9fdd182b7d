"""A Hugging Face model's own image processor as deformviz's preprocessing, and its own
post-processing as the detection head.

The folder's processor (`AutoImageProcessor`, whichever backend transformers picks) makes the
exact tensor the model's users feed it (resize, rescale, normalise); the valid part of its pixel
mask says where the resized image sits, so results map back to original pixels. Detections are
the processor's `post_process_object_detection` (sigmoid, top-k over queries x classes, boxes
scaled to the input), each traced back to the decoder query that predicted it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deformviz.imaging import LoadedImage, ModelInput

from .network import DenseDetections

__all__ = ["ProcessorPreparation", "PostProcessingHead"]


@dataclass(frozen=True, eq=False)
class ProcessorPreparation:
    """An `ImagePreparation` running a transformers image processor.

    Attributes:
        processor: the folder's image processor (`AutoImageProcessor.from_pretrained`).
    """

    processor: Any

    def prepare(self, image: LoadedImage) -> ModelInput:
        """[H, W, 3] uint8 RGB -> pixel_values [1, 3, Hp, Wp] float32; `resized_size` is the
        valid part of the processor's pixel mask (all of it without one)."""
        batch = self.processor(images=image.pixels, return_tensors="pt")
        tensor = batch["pixel_values"].float()
        mask = batch.get("pixel_mask")
        if mask is None:
            resized = (int(tensor.shape[-2]), int(tensor.shape[-1]))
        else:
            valid = mask[0] != 0
            resized = (int(valid.any(1).sum()), int(valid.any(0).sum()))
        return ModelInput(tensor, image.size, resized)

    def describe(self) -> str:
        """The processor's class and its resize, e.g. "DeformableDetrImageProcessorPil,
        size {'shortest_edge': 800, 'longest_edge': 1333}, mean ..., std ..."."""
        p = self.processor
        return (f"{type(p).__name__}, size {dict(getattr(p, 'size', {}) or {})}, "
                f"mean {_rounded(getattr(p, 'image_mean', None))}, "
                f"std {_rounded(getattr(p, 'image_std', None))}")

    def to_dict(self) -> dict:
        p = self.processor
        return {"processor": type(p).__name__, "size": dict(getattr(p, "size", {}) or {}),
                "mean": _rounded(getattr(p, "image_mean", None)),
                "std": _rounded(getattr(p, "image_std", None))}


def _rounded(values: object) -> list[float]:
    return [round(float(v), 3) for v in np.atleast_1d(np.asarray(values if values is not None
                                                                  else [], dtype=float))]


def _query_of_boxes(outputs: Any, boxes: Tensor, input_size: tuple[int, int]) -> Tensor:
    """[N] the decoder query whose predicted box (pred_boxes, cxcywh relative) scaled to the
    input is each of `boxes` [N, 4] (x1, y1, x2, y2 input pixels): the nearest one."""
    height, width = input_size
    centre, size = outputs.pred_boxes[0].double().split(2, dim=-1)
    predicted = torch.cat([centre - size / 2, centre + size / 2], -1) \
        * torch.tensor([width, height, width, height], dtype=torch.float64)
    distance = (boxes.double()[:, None, :] - predicted[None]).abs().sum(-1)
    return distance.argmin(1) if len(boxes) else torch.zeros(0, dtype=torch.long)


@dataclass(frozen=True, eq=False)
class PostProcessingHead:
    """A `DetectionHead` from the processor's own post-processing.

    Attributes:
        processor: the image processor (its `post_process_object_detection`).
        class_names: the config's id2label, by index.
    """

    processor: Any
    class_names: tuple[str, ...]

    def detect(self, outputs: Any, input_size: tuple[int, int], score_threshold: float,
               max_detections: int) -> DenseDetections:
        """Objects of image 0 in model-input pixels, best first, one per decoder query (a
        query's best class; the post-processing may list a query under several classes)."""
        found = self.processor.post_process_object_detection(
            outputs, threshold=score_threshold, target_sizes=[tuple(input_size)])[0]
        scores, labels = found["scores"].detach().cpu(), found["labels"].detach().cpu()
        boxes = found["boxes"].detach().cpu().double()
        order = scores.argsort(descending=True)
        queries = _query_of_boxes(outputs, boxes[order], input_size)
        keep, seen = [], set()
        for position, query in enumerate(queries.tolist()):
            if query not in seen:
                seen.add(query)
                keep.append(position)
        chosen = order[keep][:max_detections]
        return DenseDetections(boxes[chosen], scores[chosen].double(), labels[chosen].long(),
                               queries=queries[keep][:max_detections])
