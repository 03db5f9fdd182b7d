"""One image through one network, probed once: ask it for any units afterwards.

    from deformviz.networks import load_network
    from deformviz.visualize import probe_image
    from deformviz.plotting import plot_sampling, save_figure

    network = load_network("faster_rcnn_r50_fpn_dconv_c3-c5.pth")   # or load_model() (bundled)
    probed = probe_image(network, "photo.jpg")                     # one forward pass
    result = probed.sample(at=[(320, 200)], levels=3)              # no further passes
    save_figure(plot_sampling(result), "unit.pdf", width="cvpr-column")

`probe_image` accepts the bundled detector (its adapter, `deformviz.capture`, adds detections
and a heat map), a loaded network (anything with `.module` and `.preprocessing`, such as
`deformviz.networks.LoadedNetwork`), or a plain nn.Module together with a `preprocessing`
(anything whose `prepare(LoadedImage)` returns `.tensor`, `.resized_size` and
`.original_size`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from deformviz.errors import InputError
from deformviz.imaging import LoadedImage, as_loaded_image, prepare_for_model
from deformviz.probe import DeformLayerRecord, ProbeResult, probe

from .results import Detection, SamplingResult

__all__ = ["ProbedImage", "probe_image"]


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
        detections: the network's own detections in original pixels (bundled detector only).
        heatmap: [classes, h, w] object-centre probabilities on the top layer's output map
            (bundled detector only); with it `auto` picks units from detections.
        preprocessing: how the image was prepared, as plain values (saved with the data).
        network: what the loader found and assumed of the network (a loaded network's
            `details`), saved with the data.
    """

    image: LoadedImage
    probe: ProbeResult
    resized_size: tuple[int, int]
    model_name: str = "model"
    default_chain: tuple[str, ...] = ()
    detections: tuple[Detection, ...] = ()
    heatmap: torch.Tensor | None = None
    preprocessing: dict | None = None
    network: dict | None = None

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
        from .sampling import sample_units

        return sample_units(self, at=at, auto=auto, grid_step=grid_step, levels=levels,
                            layers=layers, group=group)


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _describe(preprocessing: object) -> dict | None:
    if dataclasses.is_dataclass(preprocessing):
        return {key: _plain(value) for key, value in dataclasses.asdict(preprocessing).items()}
    return None


def _bundled(model: nn.Module, image: LoadedImage, long_side: int, score_threshold: float,
             model_name: str | None) -> ProbedImage:
    from deformviz.capture import capture_dense

    from .mapping import detections_in_image

    model_input = prepare_for_model(image, long_side)
    device = next(model.parameters()).device
    capture = capture_dense(model, model_input.tensor.to(device), score_threshold)
    names = tuple(f"stage.layers.{i}" for i in range(len(capture.probe.layers)))
    return ProbedImage(
        image, capture.probe, model_input.resized_size, model_name or "model", names,
        detections_in_image(capture, model_input, model.class_names), capture.heatmap,
        {"channel_order": "RGB", "range": [0.0, 1.0], "long_side": long_side,
         "size_divisor": 16, "normalisation": "inside the network (ImageNet mean and std)"})


def probe_image(network: object, image: object, *, preprocessing: object | None = None,
                long_side: int = 512, score_threshold: float = 0.3,
                model_name: str | None = None) -> ProbedImage:
    """Prepare `image` for `network` and run the network once under the probe.

    Args:
        network: the bundled DeformableDetector, a loaded network (`.module`,
            `.preprocessing`, optional `.default_chain`, `.source`), or an nn.Module (then
            `preprocessing` is required).
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        preprocessing: for a plain module: how to prepare the image (`prepare(LoadedImage)`).
        long_side: bundled detector only: model-input pixels of the longer side.
        score_threshold: bundled detector only: minimum score of its detections.
        model_name: recorded in results (default: the network's source or "model").
    Returns:
        ProbedImage; `.sample(...)` traces any units of this one forward pass.

    Example:
        >>> from deformviz.ops import DeformConv2d
        >>> from deformviz.imaging import prepare_for_model
        >>> class Resize:  # the bundled resize, for the example
        ...     def prepare(self, image):
        ...         return prepare_for_model(image, 64)
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1),
        ...                     DeformConv2d(8, 8, 3, padding=1)).eval()
        >>> pixels = np.zeros((48, 64, 3), dtype=np.uint8)
        >>> probed = probe_image(net, pixels, preprocessing=Resize())
        >>> result = probed.sample(at=[(10, 20)])
        >>> result.samplings[0].points[0].shape, result.samplings[0].unit.cell
        ((9, 2), (10, 5))
    """
    from deformviz.models.detector import DeformableDetector

    loaded = as_loaded_image(image)
    if isinstance(network, DeformableDetector):
        return _bundled(network, loaded, long_side, score_threshold, model_name)
    if isinstance(network, nn.Module):
        module, chain, source, facts = network, (), None, None
        if preprocessing is None:
            raise InputError("probe_image needs `preprocessing` for a plain module (how to "
                             "resize and normalise the image)")
    elif hasattr(network, "module") and hasattr(network, "preprocessing"):
        module = network.module  # type: ignore[attr-defined]
        preprocessing = preprocessing or network.preprocessing  # type: ignore[attr-defined]
        chain = tuple(getattr(network, "default_chain", ()))
        source = getattr(network, "source", None)
        facts = getattr(network, "details", None)
    else:
        raise InputError(f"cannot probe a {type(network).__name__}: expected the bundled "
                         "detector, a loaded network or an nn.Module")
    prepared = preprocessing.prepare(loaded)  # type: ignore[union-attr]
    result = probe(module, prepared.tensor)
    if not result.layers:
        raise InputError(f"{model_name or source or type(module).__name__}: the forward pass "
                         "ran no deformable layer deformviz recognises (register an adapter "
                         "with deformviz.probe.register_layer_adapter)")
    return ProbedImage(loaded, result, tuple(prepared.resized_size),  # type: ignore[arg-type]
                       model_name or (str(source) if source else "model"), chain,
                       preprocessing=_describe(preprocessing),
                       network=dict(facts) if isinstance(facts, dict) else None)
