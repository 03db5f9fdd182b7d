"""One image through one network, probed once: ask it for any units afterwards.

    from deformviz.networks import load_network
    from deformviz.visualize import probe_image
    from deformviz.plotting import plot_sampling, save_figure

    network = load_network("faster_rcnn_r50_fpn_dconv_c3-c5.pth")   # or load_model() (bundled)
    probed = probe_image(network, "photo.jpg")                     # one forward pass
    result = probed.sample(at=[(320, 200)], levels=3)              # no further passes
    save_figure(plot_sampling(result), "unit.pdf", width="cvpr-column")

`probe_image` takes any `deformviz.networks.Network` (`load_network`: the bundled detector by
name, an export, a checkpoint, a factory), and what `deformviz.networks.as_network` turns into
one: the bundled `DeformableDetector`, or a plain nn.Module together with a `preprocessing`
(anything whose `prepare(LoadedImage)` returns `.tensor`, `.resized_size` and
`.original_size`). A network's detection head (the bundled detector's) adds detections and a
heat map from the same forward pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from deformviz.errors import InputError
from deformviz.imaging import LoadedImage, ModelInput, as_loaded_image
from deformviz.networks import (DenseDetections, Network, NetworkPass, as_network, probe_network,
                                with_resize)
from deformviz.networks.preprocessing import preprocessing_dict
from deformviz.probe import DeformLayerRecord, ProbeResult

from .results import Detection, SamplingResult
from .tracing import sample_units

__all__ = ["ProbedImage", "probe_image", "detections_in_image", "renamed_argument"]


def renamed_argument(network: object, model: object | None) -> object:
    """`network`, or the deprecated `model=` keyword that named it before (one release)."""
    if model is None:
        return network
    warnings.warn("model= is deprecated: pass the network as the first argument (network=)",
                  DeprecationWarning, stacklevel=3)
    if network is not None:
        raise TypeError("give the network once (network, or the deprecated model=)")
    return model


def detections_in_image(found: DenseDetections, model_input: ModelInput,
                        class_names: tuple[str, ...]) -> tuple[Detection, ...]:
    """A detection head's objects with boxes in continuous original pixels, best score first."""
    boxes = model_input.boxes_to_original(found.boxes.double().numpy().reshape(-1, 4))
    scores = found.scores.double().numpy()
    labels = found.labels.numpy()
    order = np.argsort(-scores, kind="stable")
    return tuple(Detection(tuple(float(v) for v in boxes[i]),  # type: ignore[arg-type]
                           class_names[int(labels[i])], float(scores[i])) for i in order)


@dataclass(frozen=True, eq=False)
class ProbedImage:
    """An image and the probe's records of one forward pass of a network on it.

    Attributes:
        image: the original image (what points are mapped back to).
        probe: the deformable layers' records (model-input coordinates).
        resized_size: (h, w) of the image as resized for the network, before any padding.
        model_name: the network's name or file, recorded in results.
        default_chain: qualified names of the layers `sample` traces by default (empty: the
            last three deformable layers).
        detections: the network's own detections in original pixels (networks with a
            detection head, such as the bundled detector).
        heatmap: [classes, h, w] object-centre probabilities on the top layer's output map
            (from a detection head); with it `auto` picks units from detections.
        preprocessing: how the image was prepared, as plain values (saved with the data).
        network: the network that ran (`deformviz.networks.Network`); `network_facts` is
            what its loader found and assumed, saved with the data.
        model_input: the prepared input it ran on.
        run: the probed pass itself (its outputs feed the network's RoI head, `rois`).
    """

    image: LoadedImage
    probe: ProbeResult
    resized_size: tuple[int, int]
    model_name: str = "model"
    default_chain: tuple[str, ...] = ()
    detections: tuple[Detection, ...] = ()
    heatmap: torch.Tensor | None = None
    preprocessing: dict | None = None
    network: Network | None = None
    model_input: ModelInput | None = None
    run: NetworkPass | None = None

    @property
    def network_facts(self) -> dict | None:
        """What the network's loader found and assumed (`Network.details`), or None."""
        return (dict(self.network.details) or None) if self.network is not None else None

    def chain(self, layers: Sequence[str] | None = None) -> tuple[DeformLayerRecord, ...]:
        """The layers to trace, bottom to top: `layers` (any names `ProbeResult.find` takes),
        else the network's default chain, else its last three deformable layers."""
        return self.probe.chain(list(layers) if layers else list(self.default_chain) or None)

    def sample(self, *, at: Sequence[tuple[float, float]] = (), auto: int | None = None,
               grid_step: int | None = None, levels: int | None = None,
               layers: Sequence[str] | None = None, group: int | str = 0) -> SamplingResult:
        """Sampling points of units of the chain's top layer, in original-image pixels.

        Args:
            at: units as (x, y) original pixels; each picks the nearest top-layer cell.
            auto: this many telling units (from detections for the bundled detector, else by
                `deformviz.visualize.headless_units`). With no `at`, `auto` or `grid_step`: 3.
            grid_step: a regular grid of units every `grid_step` cells instead.
            levels: layers to descend, 1..len(chain) (K, K^2, ... points); default all.
            layers: the chain (see `chain`).
            group: the offset group followed (0..G-1), or "all" (one sampling per group).
        """
        return sample_units(self, at=at, auto=auto, grid_step=grid_step, levels=levels,
                            layers=layers, group=group)


def probe_image(network: object, image: object, *, preprocessing: object | None = None,
                long_side: int | None = None, score_threshold: float = 0.3,
                max_detections: int = 50, model_name: str | None = None) -> ProbedImage:
    """Prepare `image` for `network` and run the network once under the probe.

    Args:
        network: a `deformviz.networks.Network`, the bundled DeformableDetector, or an
            nn.Module (then `preprocessing` is required); see `deformviz.networks.as_network`.
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        preprocessing: for a plain module: how to prepare the image (`prepare(LoadedImage)`).
        long_side: networks resized by their longer side (the bundled detector): its pixels
            (default the network's own, 512); `deformviz.networks.with_resize`.
        score_threshold: networks with a detection head: minimum score of its detections.
        max_detections: networks with a detection head: most detections kept.
        model_name: recorded in results (default: the network's source or "model").
    Returns:
        ProbedImage; `.sample(...)` traces any units of this one forward pass.

    Example:
        >>> from deformviz.ops import DeformConv2dPack
        >>> from deformviz.imaging import prepare_for_model
        >>> class Resize:  # the bundled resize, for the example
        ...     def prepare(self, image):
        ...         return prepare_for_model(image, 64)
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1),
        ...                     DeformConv2dPack(8, 8, 3, padding=1)).eval()
        >>> pixels = np.zeros((48, 64, 3), dtype=np.uint8)
        >>> probed = probe_image(net, pixels, preprocessing=Resize())
        >>> result = probed.sample(at=[(10, 20)])
        >>> result.samplings[0].points[0].shape, result.samplings[0].unit.cell
        ((9, 2), (10, 5))
    """
    loaded = as_loaded_image(image)
    network = with_resize(as_network(network, preprocessing), long_side=long_side)
    prepared = network.preprocessing.prepare(loaded)
    run = probe_network(network, prepared.tensor, score_threshold=score_threshold,
                        max_detections=max_detections)
    if not run.probe.layers:
        raise InputError(f"{model_name or network.source}: the forward pass ran no deformable "
                         "layer deformviz recognises (register an adapter with "
                         "deformviz.probe.register_layer_adapter)")
    detections: tuple[Detection, ...] = ()
    heatmap = None
    if run.detections is not None and network.detection_head is not None:
        detections = detections_in_image(run.detections, prepared,
                                         network.detection_head.class_names)
        heatmap = run.detections.heatmap
    return ProbedImage(loaded, run.probe, tuple(prepared.resized_size),  # type: ignore[arg-type]
                       model_name or network.source, network.layers.default, detections,
                       heatmap, preprocessing_dict(network.preprocessing), network, prepared, run)
