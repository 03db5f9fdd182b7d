"""From the model input back to the original image: the feature-cell mapping and detections."""

from __future__ import annotations

import numpy as np

from deformviz.capture import DenseCapture
from deformviz.geometry import FeatureToImage
from deformviz.imaging import ModelInput

from .results import Detection

__all__ = ["image_mapping", "detections_in_image"]


def image_mapping(capture: DenseCapture, model_input: ModelInput) -> FeatureToImage:
    """Feature cells of the stride-16 maps <-> original-image pixels, for this image: the
    network's grid origin (cell y centred on model-input pixel 16 y + 15) then the resize."""
    return FeatureToImage.from_grid(capture.grid, model_input.resized_size,
                                    model_input.original_size)


def detections_in_image(capture: DenseCapture, model_input: ModelInput,
                        class_names: tuple[str, ...]) -> tuple[Detection, ...]:
    """The captured detections with boxes in continuous original pixels, best score first."""
    found = capture.detections
    boxes = model_input.boxes_to_original(found.boxes.double().numpy().reshape(-1, 4))
    scores = found.scores.double().numpy()
    labels = found.labels.numpy()
    order = np.argsort(-scores, kind="stable")
    return tuple(Detection(tuple(float(v) for v in boxes[i]),  # type: ignore[arg-type]
                           class_names[int(labels[i])], float(scores[i])) for i in order)
