"""From a network and an image to the explore page's description (`ExploreData`).

One forward pass: the offsets (and DCNv2 masks) of the chain's deformable layers, the grids
that place their maps on the model input, the detections and, where the network has an RoI
head, their deformed bins. `describe_image` is the one place that reads a network; everything
after it (`deformviz.explore.page`) only sees the description.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from deformviz.imaging import LoadedImage, as_loaded_image, prepare_for_model

from .description import ExploreBox, ExploreData, ExploreLayer, GridSpec, SampleCommand

__all__ = ["describe_image", "image_data_uri", "DISPLAY_LONG_SIDE"]

# The page shows the image at most this large (longer side, pixels); a bigger photo is
# downscaled for display only: every coordinate stays in original pixels.
DISPLAY_LONG_SIDE = 1600


def image_data_uri(image: LoadedImage, long_side: int = DISPLAY_LONG_SIDE) -> str:
    """The image as a data: URI, downscaled so its longer side is at most `long_side`.

    PNG (lossless) unless it is more than 1.5x the size of a quality-90 JPEG (photos).
    """
    picture = Image.fromarray(image.pixels)
    height, width = image.size
    if max(height, width) > long_side:
        scale = long_side / max(height, width)
        picture = picture.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                 Image.Resampling.LANCZOS)
    encoded = {}
    for fmt, options in (("png", {"optimize": True}), ("jpeg", {"quality": 90})):
        buffer = io.BytesIO()
        picture.save(buffer, format=fmt.upper(), **options)
        encoded[fmt] = buffer.getvalue()
    fmt = "png" if len(encoded["png"]) <= 1.5 * len(encoded["jpeg"]) else "jpeg"
    return f"data:image/{fmt};base64,{base64.b64encode(encoded[fmt]).decode()}"


def _bottom_input_size(geometry, output_size: tuple[int, int]) -> tuple[int, int]:
    # Stride 1 (the bundled res5 layers): Hout = H + 2 pad - dil (k - 1), so H follows.
    if geometry.stride != (1, 1):
        raise ValueError("the bottom layer's input size is unknown for stride > 1")
    return tuple(out - 2 * pad + dil * (k - 1) for out, pad, dil, k in zip(  # type: ignore[return-value]
        output_size, geometry.padding, geometry.dilation, geometry.kernel_size))


def describe_image(model, image: object, *, image_argument: str, command_arguments=(),
                   long_side: int = 512, score_threshold: float = 0.3, max_boxes: int = 10,
                   levels: int | None = None, model_name: str = "model") -> ExploreData:
    """Run `model` once on `image` and describe what the explore page needs.

    Args:
        model: the bundled detector (deformviz.models.detector.DeformableDetector), eval mode.
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        image_argument: the image as the `deformviz sample` command line should name it.
        command_arguments: the `sample` options that select the same network and input size.
        long_side: model-input pixels of the longer image side (multiple of 16).
        score_threshold: minimum score of the detections shown.
        max_boxes: most detections shown (with their deformed RoI bins).
        levels: levels shown at first; default all layers of the chain.
        model_name: the network's name or file, for the page's title.
    Returns:
        ExploreData; offsets in float32 exactly as the operators received them.
    """
    import torch

    from deformviz.capture import capture_dense
    from deformviz.visualize.rois import rois_from_capture

    loaded = as_loaded_image(image)
    model_input = prepare_for_model(loaded, long_side)
    device = next(model.parameters()).device
    capture = capture_dense(model, model_input.tensor.to(device), score_threshold,
                            max(max_boxes, 1))
    # Every deformable layer of the bundled network works on the trunk's one stride-16 grid.
    grid = GridSpec((float(capture.grid.stride),) * 2, (float(capture.grid.origin),) * 2)
    layers = []
    for index, (name, geometry, offset, mask) in enumerate(zip(
            capture.layer_names, capture.layers, capture.offsets, capture.masks)):
        output_size = (int(offset.shape[-2]), int(offset.shape[-1]))
        input_size = (layers[-1].output_size if index else
                      _bottom_input_size(geometry, output_size))
        layers.append(ExploreLayer(
            name=name, kernel_size=geometry.kernel_size, stride=geometry.stride,
            padding=geometry.padding, dilation=geometry.dilation,
            offset_groups=geometry.offset_groups, input_size=input_size, output_size=output_size,
            input_grid=grid, output_grid=grid,
            offset=offset.to(torch.float32).numpy(),
            mask=None if mask is None else mask.to(torch.float32).numpy()))

    rois = rois_from_capture(model, capture, loaded, model_input, None, max_boxes, model_name)
    detections = tuple(
        ExploreBox(box=b.box, label=b.detection.label if b.detection else b.label,
                   score=b.detection.score if b.detection else b.score,
                   head_label=b.label, head_score=b.score,
                   regular_bins=np.asarray(b.regular), deformed_bins=np.asarray(b.deformed))
        for b in rois.boxes)
    deformable = "deformable" if model.config.deformable else "plain (zero offsets)"
    modulated = ", DCNv2 (modulated)" if model.config.modulated else ""
    return ExploreData(
        image_name=loaded.name, image_size=loaded.size, image_uri=image_data_uri(loaded),
        model_name=model_name,
        architecture=f"bundled EfficientNet-Lite0 detector, {deformable} res5a-c{modulated}",
        resized_size=model_input.resized_size, layers=tuple(layers),
        levels=len(layers) if levels is None else levels, detections=detections,
        command=SampleCommand(image_argument, tuple(command_arguments)))
