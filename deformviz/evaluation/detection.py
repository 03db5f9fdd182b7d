"""Average precision of detections against ground-truth boxes (PASCAL VOC, all points)."""

from __future__ import annotations

import torch
from torch import Tensor

from deformviz.geometry.boxes import box_iou


def average_precision(detections: list[tuple[Tensor, Tensor, Tensor]],
                      ground_truth: list[tuple[Tensor, Tensor]], num_classes: int,
                      iou_threshold: float = 0.5) -> list[float]:
    """AP per class at `iou_threshold`.

    Args:
        detections: per image (boxes [N, 4], scores [N], labels [N]).
        ground_truth: per image (boxes [M, 4], labels [M]).
    Returns:
        num_classes APs in [0, 1]; NaN for a class with no ground truth.
    """
    results = []
    for cls in range(num_classes):
        scores, hits = [], []
        total = 0
        for (boxes, det_scores, labels), (gt_boxes, gt_labels) in zip(detections, ground_truth):
            gt = gt_boxes[gt_labels == cls]
            total += len(gt)
            mine = labels == cls
            det, det_scores = boxes[mine], det_scores[mine]
            order = det_scores.argsort(descending=True)
            det, det_scores = det[order], det_scores[order]
            taken = torch.zeros(len(gt), dtype=torch.bool)
            iou = box_iou(det, gt) if len(gt) and len(det) else torch.zeros(len(det), len(gt))
            for d in range(len(det)):
                hit = False
                if len(gt):
                    candidates = iou[d].clone()
                    candidates[taken] = -1
                    best = int(candidates.argmax())
                    if candidates[best] >= iou_threshold:
                        taken[best] = hit = True
                scores.append(float(det_scores[d]))
                hits.append(hit)
        if total == 0:
            results.append(float("nan"))
            continue
        order = torch.tensor(scores).argsort(descending=True) if scores else torch.zeros(0, dtype=torch.long)
        hit = torch.tensor(hits, dtype=torch.float64)[order] if hits else torch.zeros(0, dtype=torch.float64)
        true_positives = hit.cumsum(0)
        recall = true_positives / total
        precision = true_positives / torch.arange(1, len(hit) + 1, dtype=torch.float64)
        # All-point interpolation: precision made monotone, integrated over recall.
        recall = torch.cat([torch.zeros(1, dtype=torch.float64), recall, torch.ones(1, dtype=torch.float64)])
        precision = torch.cat([torch.zeros(1, dtype=torch.float64), precision, torch.zeros(1, dtype=torch.float64)])
        precision = precision.flip(0).cummax(0).values.flip(0)
        steps = (recall[1:] != recall[:-1]).nonzero().flatten()
        results.append(float(((recall[steps + 1] - recall[steps]) * precision[steps + 1]).sum()))
    return results
