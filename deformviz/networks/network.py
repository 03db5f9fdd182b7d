"""The one shape of every network deformviz runs, and one probed forward pass of it.

A `Network` is what the probe, the statistics, the explorer and every command need: the module,
how to prepare an image for it (`preprocessing`), its deformable layers (`layers`, a
`deformviz.probe.LayerIndex`), and, where it has them, a detection head (objects and a heat map
from the outputs of the same forward pass) and an RoI head (classes and deformed bins of any
boxes). The bundled detector, mmdetection / detectron2 checkpoints and the user's factories are
all `deformviz.networks.LoadedNetwork`s (`load_network` builds them); anything else with these
attributes works too.

`probe_network` runs one under the probe and asks its detection head for objects: the one
place a network's forward pass is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from deformviz.geometry import MapGrid
from deformviz.imaging import LoadedImage, ModelInput
from deformviz.probe import LayerIndex, ProbeResult, probe

__all__ = ["Network", "ImagePreparation", "DetectionHead", "RoIHead", "DenseDetections",
           "RoIOutput", "NetworkPass", "probe_network"]


@runtime_checkable
class ImagePreparation(Protocol):
    """How an image becomes a network's input (`Preprocessing`, `LongSideResize`)."""

    def prepare(self, image: LoadedImage) -> ModelInput:
        """[H, W, 3] uint8 RGB -> ModelInput (tensor [1, 3, Hp, Wp] and the resize)."""

    def describe(self) -> str:
        """One line for people."""

    def to_dict(self) -> dict:
        """Plain values, saved with results."""


@dataclass(frozen=True, eq=False)
class DenseDetections:
    """A detection head's objects on one image.

    Attributes:
        boxes: [N, 4] (x1, y1, x2, y2), continuous model-input pixels, CPU.
        scores: [N] in [0, 1].
        labels: [N] indices into the head's `class_names`.
        heatmap: [classes, h, w] object-centre probabilities on the top deformable layer's
            output map, or None.
        queries: [N] the decoder query that predicted each object (DETR-family heads), or
            None.
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    heatmap: Tensor | None = None
    queries: Tensor | None = None


@dataclass(frozen=True, eq=False)
class RoIOutput:
    """An RoI head on K boxes.

    Attributes:
        pool_boxes: [K, 4] float64, the boxes moved into the pooling operator's aligned
            convention (feature cells = box * spatial_scale - 0.5), model-input pixels.
        offsets: [K, 2, ph, pw] normalised bin offsets (x first), or None (plain pooling).
        probs: [K, classes + 1] class probabilities, last = background.
        gamma: the pooling's offset scale.
        output_size: (ph, pw) bins per box.
        spatial_scale: feature cells per model-input pixel.
        grid: where the pooled map's cells sit on the model input.
    """

    pool_boxes: Tensor
    offsets: Tensor | None
    probs: Tensor
    gamma: float
    output_size: tuple[int, int]
    spatial_scale: float
    grid: MapGrid


class DetectionHead(Protocol):
    """A network's own objects, from the outputs of the probed forward pass."""

    class_names: tuple[str, ...]

    def detect(self, outputs: Any, input_size: tuple[int, int], score_threshold: float,
               max_detections: int) -> DenseDetections | None:
        """Objects of image 0 of `outputs` (what the module returned for an (H, W) input);
        None where the outputs are not in a form the head reads (no detections to offer)."""


class RoIHead(Protocol):
    """A network's RoI head, run on boxes from the outputs of the probed forward pass."""

    class_names: tuple[str, ...]
    output_size: tuple[int, int]
    gamma: float

    def pool(self, outputs: Any, input_size: tuple[int, int], boxes: Tensor) -> RoIOutput:
        """The head on `boxes` [K, 4] (x1, y1, x2, y2) float64 continuous model-input pixels."""


class Network(Protocol):
    """Everything deformviz runs: see the module docstring.

    Attributes:
        module: eval mode; `module(preprocessing.prepare(image).tensor)` runs it.
        preprocessing: how an image becomes its input.
        layers: its deformable layers (find, chain, labels, default chain).
        source: its name or file, recorded with results.
        format: "bundled", "deformviz-export", "mmdetection", "detectron2", "factory", "module",
            "transformers" (a Hugging Face model folder).
        architecture: one line for people.
        details: what its loader read and assumed, for people (`deformviz inspect`) and saved
            data, in display order.
        detection_head, roi_head: None where the network has none.
        family: "convolution" (deformable convs) or "attention" (multi-scale deformable
            attention, probed with `deformviz.probe.probe_attention`).
    """

    module: nn.Module
    preprocessing: ImagePreparation
    source: str
    format: str
    architecture: str
    details: Mapping[str, str]
    detection_head: DetectionHead | None
    roi_head: RoIHead | None
    family: str

    @property
    def layers(self) -> LayerIndex: ...

    def stated_grids(self, input_size: tuple[int, int]) -> Mapping[tuple[int, int], MapGrid]:
        """Map size -> grid the network states itself (wins over the probe's derivation)."""

    def facts(self) -> dict[str, str]:
        """What identifies it in results beside its name (format, architecture, input)."""


@dataclass(frozen=True, eq=False)
class NetworkPass:
    """One probed forward pass of a network on one prepared image.

    Attributes:
        probe: the deformable layers' records (outputs dropped), with the network's aliases.
        outputs: what the module returned.
        detections: the detection head's objects, or None without one.
    """

    probe: ProbeResult
    outputs: Any
    detections: DenseDetections | None


def probe_network(network: Network, tensor: Tensor, *, score_threshold: float = 0.3,
                  max_detections: int = 50, detect: bool = True) -> NetworkPass:
    """Run `network` once on a prepared input under the probe, and its detection head.

    Args:
        network: any Network.
        tensor: [1, C, H, W] from `network.preprocessing.prepare`; [B, C, H, W] (images of
            one size) with `detect=False`.
        score_threshold, max_detections: for the detection head.
        detect: run the detection head (one image); False records the layers only.
    """
    input_size = (int(tensor.shape[-2]), int(tensor.shape[-1]))
    result = probe(network.module, tensor, grid_overrides=network.stated_grids(input_size),
                   aliases=network.layers.aliases, keep_outputs=detect)
    head = network.detection_head if detect else None
    detections = None if head is None else head.detect(result.outputs, input_size,
                                                       score_threshold, max_detections)
    return NetworkPass(ProbeResult(result.layers, result.input_size, None, result.aliases,
                                   result.notes), result.outputs, detections)
