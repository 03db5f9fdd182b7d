"""Deformed RoI bins of boxes, in original-image pixels (the paper's Fig. 7).

`roi_bins` runs the network once, then the RoI head on the given boxes (or on the network's
own detections) from the same stage features, and turns the pooling's bin offsets into
rectangles with `deformviz.geometry.deformed_roi_bins`, mapped back to the original image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deformviz.capture import DenseCapture, capture_dense, capture_rois
from deformviz.geometry import deformed_roi_bins
from deformviz.imaging import LoadedImage, ModelInput, as_loaded_image, prepare_for_model
from deformviz.models.detector import DeformableDetector

from .boxes import check_boxes
from .mapping import detections_in_image, image_mapping
from .results import BoxBins, Detection, RoIResult

__all__ = ["roi_bins", "rois_from_capture"]


def rois_from_capture(model: DeformableDetector, capture: DenseCapture, image: LoadedImage,
                      model_input: ModelInput, boxes: np.ndarray | None = None,
                      max_boxes: int = 10, model_name: str = "model") -> RoIResult:
    """The RoI half of `roi_bins` on an existing capture (runs only the RoI head)."""
    pool = model.roi_head.pool
    output_size = tuple(pool.output_size)
    given = boxes is not None
    detections: tuple[Detection | None, ...]
    if given:
        detections = (None,) * len(boxes)
    else:
        detections = detections_in_image(capture, model_input, model.class_names)[:max_boxes]
        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return RoIResult(image, model_name, (), output_size, float(pool.gamma),  # type: ignore[arg-type]
                         model_input.resized_size)

    input_boxes = torch.from_numpy(model_input.boxes_to_input(boxes))
    rois = capture_rois(model, capture, input_boxes.float())
    # The operator saw the boxes shifted into its convention (rois.pool_boxes, float32); redo
    # that shift in float64 so the regular bins tile the box exactly. The mapping to the
    # original image shifts them back.
    pool_boxes = capture.grid.boxes_for_roi_pool(input_boxes)
    bins = deformed_roi_bins(pool_boxes, rois.spatial_scale,
                             None if rois.offsets is None else rois.offsets.double(),
                             output_size=rois.output_size, gamma=rois.gamma)
    regular, deformed = bins.to_image(image_mapping(capture, model_input))
    names = (*model.class_names, "background")
    score, label = rois.probs.double().max(dim=1)
    results = tuple(
        BoxBins(box=tuple(float(v) for v in boxes[k]), label=names[int(label[k])],  # type: ignore[arg-type]
                score=float(score[k]), regular=regular[k].numpy(), deformed=deformed[k].numpy(),
                source="given" if given else "detection", detection=detections[k])
        for k in range(len(boxes)))
    return RoIResult(image, model_name, results, rois.output_size, rois.gamma,
                     model_input.resized_size)


def roi_bins(model: DeformableDetector, image: object,
             boxes: Sequence[Sequence[float]] | None = None, *, long_side: int = 512,
             score_threshold: float = 0.3, max_boxes: int = 10,
             model_name: str = "model") -> RoIResult:
    """Regular and deformed k x k bins of boxes, with the RoI head's class and score.

    Args:
        model: the detector (eval mode), on any device.
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        boxes: [K, 4] (x1, y1, x2, y2) continuous original pixels; None: the network's own
            detections (at most `max_boxes`, score >= `score_threshold`).
        long_side: model-input pixels of the longer image side (multiple of 16).
    Returns:
        RoIResult with bins [k, k, 4] per box in continuous original pixels.
    Raises:
        BoxError: a box that is not four finite numbers, inverted, empty or outside the image.

    Example:
        >>> result = roi_bins(model, "samples/chelsea.jpg", [[40, 60, 300, 280]])
        >>> result.boxes[0].deformed.shape
        (3, 3, 4)
    """
    loaded = as_loaded_image(image)
    checked = None if boxes is None else check_boxes(boxes, loaded.size)  # before the model
    model_input = prepare_for_model(loaded, long_side)
    device = next(model.parameters()).device
    capture = capture_dense(model, model_input.tensor.to(device), score_threshold, max(max_boxes, 1))
    return rois_from_capture(model, capture, loaded, model_input, checked, max_boxes, model_name)
