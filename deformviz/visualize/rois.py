"""Deformed RoI bins of boxes, in original-image pixels (the paper's Fig. 7).

`roi_bins` runs any network with an RoI head once (`deformviz.networks.probe_network`), then
its RoI head on the given boxes (or on the network's own detections) from the outputs of the
same pass, and turns the pooling's bin offsets into rectangles with
`deformviz.geometry.deformed_roi_bins`, mapped back to the original image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deformviz.errors import InputError
from deformviz.geometry import FeatureToImage, deformed_roi_bins
from deformviz.imaging import LoadedImage, ModelInput, as_loaded_image
from deformviz.networks import Network, NetworkPass, as_network, probe_network, with_resize

from .boxes import check_boxes
from .probed import detections_in_image, renamed_argument
from .results import BoxBins, Detection, RoIResult

__all__ = ["roi_bins", "rois_from_pass"]


def rois_from_pass(network: Network, run: NetworkPass, image: LoadedImage,
                   model_input: ModelInput, boxes: np.ndarray | None = None,
                   max_boxes: int = 10, model_name: str = "model") -> RoIResult:
    """The RoI half of `roi_bins` on an existing probed pass (runs only the RoI head).

    Args:
        network: a network with an RoI head (and a detection head when `boxes` is None).
        run: its probed pass on `model_input`.
        boxes: [K, 4] (x1, y1, x2, y2) continuous original pixels, checked; None: the
            network's own detections (at most `max_boxes`).
    """
    head = network.roi_head
    if head is None:
        raise InputError(f"{network.source}: the network has no RoI head")
    output_size = tuple(head.output_size)
    given = boxes is not None
    detections: tuple[Detection | None, ...]
    if given:
        detections = (None,) * len(boxes)
    elif run.detections is None or network.detection_head is None:
        raise InputError(f"{network.source}: the network detects no objects itself; give boxes")
    else:
        detections = detections_in_image(run.detections, model_input,
                                          network.detection_head.class_names)[:max_boxes]
        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return RoIResult(image, model_name, (), output_size, float(head.gamma),  # type: ignore[arg-type]
                         model_input.resized_size)

    input_boxes = torch.from_numpy(model_input.boxes_to_input(boxes))
    input_size = (int(model_input.tensor.shape[-2]), int(model_input.tensor.shape[-1]))
    rois = head.pool(run.outputs, input_size, input_boxes)
    bins = deformed_roi_bins(rois.pool_boxes, rois.spatial_scale,
                             None if rois.offsets is None else rois.offsets.double(),
                             output_size=rois.output_size, gamma=rois.gamma)
    # Feature cells -> original pixels: the pooled map's grid, then the resize (the mapping
    # shifts the boxes back out of the operator's convention).
    mapping = FeatureToImage.from_grid(rois.grid, resize=model_input.image_resize)
    regular, deformed = bins.to_image(mapping)
    names = (*head.class_names, "background")
    score, label = rois.probs.double().max(dim=1)
    results = tuple(
        BoxBins(box=tuple(float(v) for v in boxes[k]), label=names[int(label[k])],  # type: ignore[arg-type]
                score=float(score[k]), regular=regular[k].numpy(), deformed=deformed[k].numpy(),
                source="given" if given else "detection", detection=detections[k])
        for k in range(len(boxes)))
    return RoIResult(image, model_name, results, rois.output_size, rois.gamma,
                     model_input.resized_size)


def roi_bins(network: object = None, image: object = None,
             boxes: Sequence[Sequence[float]] | None = None, *, long_side: int | None = None,
             score_threshold: float = 0.3, max_boxes: int = 10,
             model_name: str | None = None, model: object | None = None) -> RoIResult:
    """Regular and deformed k x k bins of boxes, with the RoI head's class and score.

    Args:
        network: any network with an RoI head (`deformviz.networks.load_network`, or the
            bundled `DeformableDetector`), eval mode, on any device.
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        boxes: [K, 4] (x1, y1, x2, y2) continuous original pixels; None: the network's own
            detections (at most `max_boxes`, score >= `score_threshold`).
        long_side: networks resized by their longer side (the bundled detector): its pixels
            (multiple of 16; default the network's own, 512).
        model_name: recorded in the result (default: the network's source).
        model: deprecated (one release): the old name of `network`.
    Returns:
        RoIResult with bins [k, k, 4] per box in continuous original pixels.
    Raises:
        BoxError: a box that is not four finite numbers, inverted, empty or outside the image.
        InputError: a network without an RoI head.

    Example:
        >>> result = roi_bins(model, "samples/chelsea.jpg", [[40, 60, 300, 280]])
        >>> result.boxes[0].deformed.shape
        (3, 3, 4)
    """
    network = with_resize(as_network(renamed_argument(network, model)), long_side=long_side)
    if network.roi_head is None:
        raise InputError(f"{network.source}: the network has no RoI head (deformed RoI bins "
                         "need one)")
    loaded = as_loaded_image(image)
    checked = None if boxes is None else check_boxes(boxes, loaded.size)  # before the network
    model_input = network.preprocessing.prepare(loaded)
    run = probe_network(network, model_input.tensor, score_threshold=score_threshold,
                        max_detections=max(max_boxes, 1))
    return rois_from_pass(network, run, loaded, model_input, checked, max_boxes,
                          model_name or network.source)
