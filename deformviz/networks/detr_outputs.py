"""Detections from what a DETR-family module returns, for networks deformviz did not load with
their own post-processing (factories, a caller's module).

Read: class logits under `pred_logits` or `logits` [B, Q, C] and boxes under `pred_boxes`
[B, Q, 4], as a mapping (the authors' Deformable DETR, detrex, RT-DETR's reference code) or as
attributes (Hugging Face outputs). As those models are trained (sigmoid focal loss): a query's
score is its best class's sigmoid, its box (cx, cy, w, h) relative to the model input. Without
a mask the model sees the padded input as the image, so the boxes are scaled by the padded
input size. Anything else: no detections (None), and queries are chosen by index or pixel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from deformviz.geometry.attention_locations import valid_boxes_to_original

from .network import DenseDetections

__all__ = ["DetrOutputsHead", "class_names_of"]

LOGIT_KEYS = ("pred_logits", "logits")
BOX_KEYS = ("pred_boxes",)


def _field(outputs: Any, keys: tuple[str, ...]) -> Tensor | None:
    for key in keys:
        value = outputs.get(key) if isinstance(outputs, Mapping) else getattr(outputs, key, None)
        if isinstance(value, Tensor):
            return value
    return None


def class_names_of(module: object) -> tuple[str, ...]:
    """A module's class names where it states them: `class_names`, or a Hugging Face
    config's id2label; else () (classes are shown by index).

    >>> class_names_of(object())
    ()
    """
    names = getattr(module, "class_names", None)
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return tuple(names)
    labels = getattr(getattr(module, "config", None), "id2label", None)
    if isinstance(labels, Mapping) and labels:
        return tuple(str(labels.get(i, labels.get(str(i), i))) for i in range(len(labels)))
    return ()


@dataclass(frozen=True, eq=False)
class DetrOutputsHead:
    """A `DetectionHead` reading DETR-style outputs (see the module docstring).

    Attributes:
        class_names: by class index; () shows indices.
    """

    class_names: tuple[str, ...] = ()

    def detect(self, outputs: Any, input_size: tuple[int, int], score_threshold: float,
               max_detections: int) -> DenseDetections | None:
        """Objects of image 0 in model-input pixels, best first, one per query; None when the
        outputs hold no `pred_logits`/`logits` [B, Q, C] with `pred_boxes` [B, Q, 4].

        >>> head = DetrOutputsHead()
        >>> logits = torch.tensor([[[4.0, -4.0], [-4.0, -4.0]]])
        >>> boxes = torch.tensor([[[0.5, 0.5, 0.5, 0.25], [0.1, 0.1, 0.1, 0.1]]])
        >>> found = head.detect({"pred_logits": logits, "pred_boxes": boxes}, (100, 200), 0.3, 10)
        >>> found.boxes.tolist(), found.queries.tolist()
        ([[50.0, 37.5, 150.0, 62.5]], [0])
        """
        logits, boxes = _field(outputs, LOGIT_KEYS), _field(outputs, BOX_KEYS)
        if logits is None or boxes is None or logits.dim() != 3 or boxes.shape[-1] != 4 \
                or boxes.shape[:2] != logits.shape[:2]:
            return None
        probabilities = logits[0].detach().float().cpu().sigmoid()
        scores, labels = probabilities.max(dim=-1)
        keep = (scores >= score_threshold).nonzero().flatten()
        keep = keep[scores[keep].argsort(descending=True)][:max_detections]
        relative = boxes[0].detach().double().cpu()[keep].numpy()
        corners = torch.from_numpy(valid_boxes_to_original(relative, input_size))
        return DenseDetections(corners, scores[keep].double(), labels[keep].long(),
                               queries=keep.long())

    def to_dict(self) -> dict:
        """Plain values, saved with results."""
        return {"kind": "detr-outputs", "score": "sigmoid of the best class",
                "boxes": "pred_boxes (cx, cy, w, h) x padded input size",
                "classes": len(self.class_names)}
