"""What a Python caller already holds, as a Network: `as_network` takes a Network as it is,
the bundled `DeformableDetector`, an object with `.module` and `.preprocessing`, or a plain
nn.Module together with its preprocessing."""

from __future__ import annotations

from torch import nn

from deformviz.errors import InputError

from .detr_outputs import DetrOutputsHead, class_names_of
from .layer_family import find_layers
from .loaded_network import LoadedNetwork
from .network import Network

__all__ = ["as_network"]


def as_network(network: object, preprocessing: object | None = None) -> Network:
    """What a Python caller holds, as a Network.

    Args:
        network: a Network (returned as it is), the bundled `DeformableDetector`, an object
            with `.module` and `.preprocessing` (optional `.default_chain`, `.source`), or an
            nn.Module together with `preprocessing`.
        preprocessing: for a plain module: how to prepare an image (`prepare(LoadedImage)`
            returning a ModelInput; optional `describe()`, `to_dict()`).
    Raises:
        InputError: a plain module without `preprocessing`, or something else entirely.
    """
    from deformviz.models.detector import DeformableDetector

    from .bundled import bundled_network

    if isinstance(network, LoadedNetwork):
        return network
    if isinstance(network, DeformableDetector):
        return bundled_network(network)
    if isinstance(network, nn.Module):
        if preprocessing is None:
            raise InputError("a plain module needs `preprocessing` (how to resize and "
                             "normalise the image)")
        module, chain, source = network, (), "model"
    elif hasattr(network, "module") and hasattr(network, "preprocessing"):
        if all(hasattr(network, name) for name in ("layers", "detection_head", "roi_head",
                                                    "stated_grids")):
            return network  # type: ignore[return-value]  # another Network implementation
        module = network.module  # type: ignore[attr-defined]
        preprocessing = preprocessing or network.preprocessing  # type: ignore[attr-defined]
        chain = tuple(getattr(network, "default_chain", ()))
        source = str(getattr(network, "source", None) or "model")
    else:
        raise InputError(f"cannot probe a {type(network).__name__}: expected a network "
                         "(deformviz.networks.load_network), the bundled detector or an "
                         "nn.Module")
    found = find_layers(module)
    if found.family == "attention":
        # One layer drawn by default, as for every attention network: the last decoder one.
        return LoadedNetwork(module, preprocessing, "module",  # type: ignore[arg-type]
                             type(module).__name__, found.names,
                             chain or found.default_chain, source,
                             detection_head=DetrOutputsHead(class_names_of(module)),
                             family="attention")
    # No chain given: the probe's last layers in execution order (empty default).
    return LoadedNetwork(module, preprocessing, "module",  # type: ignore[arg-type]
                         type(module).__name__, found.names, chain, source)
