"""Networks as chains: how an image is prepared for a network, and what its chain captured.

A `ChainNetwork` is what a statistics run needs of a network: `prepare` (picklable: it runs in
DataLoader workers) turns a LoadedImage into the network's input, and `chain` runs the network
once under the probe (`deformviz.networks.probe_network`) and returns the chain's layers
(bottom to top, `deformviz.geometry.ChainLayer`), named `layer_names`. `NetworkChain` is the
one implementation, for any `deformviz.networks.Network`.

The chain is the one `sample` traces (`deformviz.probe.LayerIndex.chain`: `--layers` names, else
the network's default chain). Names are resolved before the run starts, so a wrong name is a
one-line error, not a failure on the first image.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from deformviz.geometry import ChainLayer
from deformviz.imaging import LoadedImage
from deformviz.probe import LayerIndex, LayerNameError

from .padded_batch import InputPadding

__all__ = ["ChainNetwork", "NetworkChain", "BundledNetwork", "ProbedNetwork", "NetworkPreparation",
           "BLANK_IMAGE", "resolve_chain"]


class ChainNetwork(Protocol):
    """What a statistics run needs of a network."""

    layer_names: tuple[str, ...]  # the chain, bottom to top, as shown in tables
    description: dict[str, Any]  # what identifies it in results (model, input, layers)
    input_padding: InputPadding  # how its batches are padded (`padded_batch`)

    def prepare(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        """[1, 3, h, w] input, and the (h', w') the image was resized to before padding."""

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        """Run the network on one prepared input; the chain's layers, bottom to top."""

    def chains(self, batch: torch.Tensor) -> list[list[ChainLayer]]:
        """Run the network once on a [B, 3, h, w] batch (`padded_batch.pad_batch`); each
        image's chain on the batch's maps."""


def resolve_chain(requested: Sequence[str] | None, layers: Sequence[str],
                  aliases: Mapping[str, str] | None = None, default: Sequence[str] = ()) -> tuple[str, ...]:
    """Qualified names of the chain, in `layers` order: `deformviz.probe.LayerIndex.chain`.

    Raises:
        LayerNameError: a name matches no layer or several, or a layer is named twice.
    """
    if not layers:
        raise LayerNameError("the network has no deformable layer")
    return LayerIndex(tuple(layers), aliases or {}, tuple(default)).chain(requested)


def batch_padding(network: Any) -> InputPadding:
    """How `network` pads a batch, as its own batching does: a `Preprocessing` (mmdetection,
    detectron2, factories) normalises, so zeros up to its size divisor; the bundled detector
    takes [0, 1] RGB and normalises inside, so the value that normalises to 0 (its trunk's mean:
    mid-grey, what its TF 'SAME' padding amounts to) up to its stride. A preparation that
    states neither: zeros, no divisor (an input normalised outside the network)."""
    divisor = getattr(network.preprocessing, "size_divisor", None)
    trunk = getattr(network.module, "trunk", None)
    if divisor is None and hasattr(trunk, "input_mean"):
        return InputPadding(trunk.stride, tuple(trunk.input_mean))
    return InputPadding(divisor or 1)


@dataclass(frozen=True)
class NetworkPreparation:
    """A network's own preparation (`preprocessing.prepare`), picklable for workers."""

    preprocessing: Any

    def __call__(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        prepared = self.preprocessing.prepare(image)
        return prepared.tensor, tuple(prepared.resized_size)  # type: ignore[return-value]


#: What head-layer names are resolved on: a blank square (the network's preprocessing resizes
#: it; the pyramid levels depend on the maps' strides, not on the image).
BLANK_IMAGE = LoadedImage(np.zeros((256, 256, 3), np.uint8), "<blank>")


class NetworkChain:
    """Any network (`deformviz.networks.Network`: bundled, an export, a checkpoint, a factory)
    as a statistics run's chain.

    Args:
        network: the network; its module on `device`, eval mode.
        name: what to record as the model (registered name, file or factory spec).
        device: where it runs.
        layers: the chain (names as `--layers` takes them), or None for its default chain.
    """

    family = "convolution"

    def __init__(self, network: Any, name: str, device: str = "cpu",
                 layers: Sequence[str] | None = None) -> None:
        self.network = network
        index = network.layers
        if not index.names:
            raise LayerNameError("the network has no deformable layer")
        self.prepare = NetworkPreparation(network.preprocessing)
        self.input_padding = batch_padding(network)
        self.device = torch.device(device)
        if layers:
            # Named layers are resolved as `sample` resolves them, against a pass: a head
            # layer's calls (once per pyramid level, `name@p4`) exist only there. On a blank
            # image, before the run starts, so a wrong name stops it at once.
            index = self._pass_index()
        self.qualified = index.chain(layers)
        self.layer_names = tuple(index.label(n) for n in self.qualified)
        self.description = {"model": name, **network.facts(), "layers": list(self.qualified)}

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        return self._traced(tensor)[0]

    def chains(self, batch: torch.Tensor) -> list[list[ChainLayer]]:
        """The chain of every image of `batch` ([B, C, H, W], `padded_batch.pad_batch`), on
        the batch's maps."""
        return self._traced(batch)

    def _pass_index(self) -> LayerIndex:
        """The layers one pass on a blank image ran, calls included (`ProbeResult.index`)."""
        from deformviz.networks import probe_network

        blank = self.prepare(BLANK_IMAGE)[0].to(self.device)
        return probe_network(self.network, blank, detect=False).probe.index

    def _traced(self, batch: torch.Tensor) -> list[list[ChainLayer]]:
        from deformviz.networks import probe_network

        run = probe_network(self.network, batch.to(self.device), detect=False)
        records = run.probe.chain(list(self.qualified))
        return [[record.chain_layer(i) for record in records] for i in range(batch.shape[0])]


def BundledNetwork(model: Any, name: str, long_side: int = 512, device: str = "cpu",  # noqa: N802
                   layers: Sequence[str] | None = None) -> NetworkChain:
    """Deprecated (one release): `NetworkChain(bundled_network(model, name, long_side), ...)`."""
    from deformviz.networks import bundled_network

    warnings.warn("BundledNetwork is deprecated; use NetworkChain(load_network(...))",
                  DeprecationWarning, stacklevel=2)
    return NetworkChain(bundled_network(model, name, long_side), name, device, layers)


def ProbedNetwork(network: Any, name: str, device: str = "cpu",  # noqa: N802
                  layers: Sequence[str] | None = None) -> NetworkChain:
    """Deprecated (one release): `NetworkChain`."""
    warnings.warn("ProbedNetwork is deprecated; use NetworkChain", DeprecationWarning,
                  stacklevel=2)
    return NetworkChain(network, name, device, layers)
