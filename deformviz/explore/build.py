"""From a network and an image to the explore page's description (`ExploreData`).

The network runs once under the probe (`deformviz.visualize.probe_image`, the same pass
`deformviz sample` makes), so every network `sample` accepts works here: the bundled detector,
a loaded mmdetection / detectron2 checkpoint, a model factory's module. The chain's records
give the offsets (and DCNv2 masks) exactly as the operators used them, the map sizes and the
grids that place each map on the model input. Where the network has detection and RoI heads
(the bundled detector), its detections and their deformed bins come from the same pass
(`deformviz.visualize.rois_from_pass`).
`describe_image` is the one place that reads a network; everything after it
(`deformviz.explore.page`) only sees the description.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from deformviz.errors import InputError
from deformviz.imaging import LoadedImage, as_loaded_image

from .description import ExploreBox, ExploreData, ExploreLayer, SampleCommand

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


def _detections(network, probed, max_boxes: int) -> tuple[ExploreBox, ...]:
    """The network's detections with its RoI head's class and deformed bins (from the probed
    pass: no second forward pass)."""
    from deformviz.visualize.rois import rois_from_pass

    if max_boxes < 1 or network.roi_head is None or network.detection_head is None:
        return ()
    result = rois_from_pass(network, probed.run, probed.image, probed.model_input,
                            max_boxes=max_boxes)  # type: ignore[arg-type]
    return tuple(
        ExploreBox(box=b.box, label=b.detection.label if b.detection else b.label,
                   score=b.detection.score if b.detection else b.score,
                   head_label=b.label, head_score=b.score,
                   regular_bins=np.asarray(b.regular), deformed_bins=np.asarray(b.deformed))
        for b in result.boxes)


def describe_image(network: object, image: object, *, image_argument: str,
                   command_arguments: Sequence[str] = (), layers: Sequence[str] | None = None,
                   long_side: int | None = None, score_threshold: float = 0.3, max_boxes: int = 10,
                   levels: int | None = None, model_name: str | None = None,
                   preprocessing: object | None = None, group: int = 0) -> ExploreData:
    """Run `network` once on `image` (under the probe) and describe what the page needs.

    Args:
        network: any `deformviz.networks.Network` (`load_network`), or what `as_network`
            takes (the bundled detector, an nn.Module with `preprocessing`).
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        image_argument: the image as the `deformviz sample` command line should name it.
        command_arguments: the `sample` options that select the same network, input size and
            chain (e.g. ["--model", "net.pth", "--layers", "res5a,res5b,res5c"]).
        layers: the chain (any names `ProbeResult.find` takes); default the network's own.
        long_side: networks resized by their longer side (the bundled detector): its pixels.
        score_threshold: networks with heads: minimum score of the detections shown.
        max_boxes: networks with heads: most detections shown (with their deformed RoI bins).
        levels: levels shown at first; default the whole chain (at most as many as the
            figures have colours for).
        model_name: the network's name or file, for the page's title.
        preprocessing: for a plain nn.Module, how to prepare the image.
        group: layers with several offset groups: the group the page follows (0..G-1; one
            group: the page draws one set of points per unit).
    Returns:
        ExploreData; offsets in float32 exactly as the operators received them.
    """
    from deformviz.networks import as_network, with_resize
    from deformviz.visualize.probed import probe_image
    from deformviz.visualize.tracing import offset_groups_to_draw

    from .description import figure_colours

    loaded = as_loaded_image(image)
    network = with_resize(as_network(network, preprocessing), long_side=long_side)
    # One pass: its detections (as many as the page shows) feed the RoI head too.
    probed = probe_image(network, loaded, score_threshold=score_threshold,
                         max_detections=max(max_boxes, 1), model_name=model_name)
    records = probed.chain(layers)
    if group == "all":
        raise InputError("group='all': the page follows one offset group; give its number")
    offset_groups_to_draw(records, group)  # checked against every layer of the chain
    if levels is not None and not 1 <= levels <= len(records):
        raise InputError(f"levels={levels}: the chain has {len(records)} layers (name more "
                         "with layers)")
    chain = tuple(ExploreLayer.from_record(r, probed.probe.label(r.name)) for r in records)
    architecture = network.architecture
    detections = _detections(network, probed, max_boxes)
    most = min(len(chain), len(figure_colours()["levels"]))
    if levels is not None and levels > most:
        raise InputError(f"levels={levels}: the figures colour at most {most} levels")
    return ExploreData(
        image_name=loaded.name, image_size=loaded.size, image_uri=image_data_uri(loaded),
        model_name=probed.model_name, architecture=architecture,
        resized_size=tuple(probed.resized_size), layers=chain,  # type: ignore[arg-type]
        levels=levels or most, detections=detections,
        command=SampleCommand(image_argument, tuple(command_arguments)), group=group)
