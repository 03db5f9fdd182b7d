"""Networks as chains: how an image is prepared for a network, and what its chain captured.

A `ChainNetwork` is what a statistics run needs of a network, bundled or loaded: `prepare`
(picklable: it runs in DataLoader workers) turns a LoadedImage into the network's input, and
`chain` runs the network once under the probe and returns the chain's layers (bottom to top,
`deformviz.geometry.ChainLayer`), named `layer_names`.

The chain is the one `sample` traces: `--layers` names (qualified module names, unique dotted
suffixes, the paper's names such as res5a, or a network's own aliases), else the network's
default chain (the last three deformable layers). Names are resolved before the run starts, so
a wrong name is a one-line error, not a failure on the first image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from deformviz.geometry import ChainLayer
from deformviz.imaging import LoadedImage, prepare_for_model
from deformviz.probe import LayerIndex, LayerNameError

__all__ = ["ChainNetwork", "BundledNetwork", "ProbedNetwork", "ResizeLongSide", "NetworkPreparation",
           "resolve_chain"]


class ChainNetwork(Protocol):
    """What a statistics run needs of a network."""

    layer_names: tuple[str, ...]  # the chain, bottom to top, as shown in tables
    description: dict[str, Any]  # what identifies it in results (model, input, layers)

    def prepare(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        """[1, 3, h, w] input, and the (h', w') the image was resized to before padding."""

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        """Run the network on one prepared input; the chain's layers, bottom to top."""


def resolve_chain(requested: Sequence[str] | None, layers: Sequence[str],
                  aliases: Mapping[str, str] | None = None, default: Sequence[str] = ()) -> tuple[str, ...]:
    """Qualified names of the chain, in `layers` order: `deformviz.probe.LayerIndex.chain`.

    Raises:
        LayerNameError: a name matches no layer or several, or a layer is named twice.
    """
    if not layers:
        raise LayerNameError("the network has no deformable layer")
    return LayerIndex(tuple(layers), aliases or {}, tuple(default)).chain(requested)


def _label(name: str, aliases: Mapping[str, str]) -> str:
    return LayerIndex((name,), aliases).label(name)


@dataclass(frozen=True)
class ResizeLongSide:
    """The bundled network's preparation: longer side to `long_side`, sides multiples of 16,
    RGB in [0, 1] (`deformviz.imaging.prepare_for_model`). Picklable for workers."""

    long_side: int

    def __call__(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        prepared = prepare_for_model(image, self.long_side)
        return prepared.tensor, prepared.resized_size  # type: ignore[return-value]


@dataclass(frozen=True)
class NetworkPreparation:
    """A loaded network's own preparation (`Preprocessing.prepare`), picklable for workers."""

    preprocessing: Any

    def __call__(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        prepared = self.preprocessing.prepare(image)
        return prepared.tensor, tuple(prepared.resized_size)  # type: ignore[return-value]


class BundledNetwork:
    """The bundled detector (or any `DeformableDetector`): its res5a-c stage is the chain.

    Args:
        model: the detector, eval mode, on `device`.
        name: what to record as the model (registered name or weights file).
        long_side: model-input pixels of the longer image side (multiple of 16).
        device: where the network runs.
        layers: the chain (names as `--layers` takes them), or None for res5a, res5b, res5c.
    """

    def __init__(self, model: Any, name: str, long_side: int = 512, device: str = "cpu",
                 layers: Sequence[str] | None = None) -> None:
        from deformviz.capture import bundled_aliases

        self.model = model
        self.aliases = bundled_aliases(model)
        qualified = tuple(self.aliases.values())
        self.qualified = resolve_chain(layers, qualified, self.aliases)
        self.layer_names = tuple(_label(n, self.aliases) for n in self.qualified)
        self.prepare = ResizeLongSide(long_side)
        self.device = torch.device(device)
        self.description = {"model": name, "input": f"longer side {long_side} px",
                            "layers": list(self.qualified)}

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        from deformviz.capture import capture_dense  # the model side: imported when used

        capture = capture_dense(self.model, tensor.to(self.device))
        return [record.chain_layer(0) for record in capture.probe.chain(list(self.qualified))]


class ProbedNetwork:
    """A loaded network (`deformviz.networks.LoadedNetwork`: mmdetection, detectron2, a factory)
    run under `deformviz.probe.probe`.

    Args:
        network: the loaded network; its module on `device`, eval mode.
        name: what to record as the model (file or factory spec).
        device: where it runs.
        layers: the chain (names as `--layers` takes them), or None for its default chain.
    """

    def __init__(self, network: Any, name: str, device: str = "cpu",
                 layers: Sequence[str] | None = None) -> None:
        self.network = network
        self.qualified = resolve_chain(layers, tuple(network.deformable_layers), {},
                                       tuple(network.default_chain))
        self.layer_names = tuple(_label(n, {}) for n in self.qualified)
        self.prepare = NetworkPreparation(network.preprocessing)
        self.device = torch.device(device)
        self.description = {"model": name, "format": network.format,
                            "architecture": network.architecture,
                            "input": network.preprocessing.describe(),
                            "layers": list(self.qualified)}

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        from deformviz.probe import probe

        result = probe(self.network.module, tensor.to(self.device))
        return [record.chain_layer(0) for record in result.chain(list(self.qualified))]
