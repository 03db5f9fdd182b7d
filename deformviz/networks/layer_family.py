"""Which learned sampling a module holds, and so which probe runs it: deformable convolutions
(DCNv1-v4, `deformviz.probe.probe`) or multi-scale deformable attention (Deformable DETR
family, `deformviz.probe.probe_attention`).

Used by the loaders of modules deformviz did not build (factories, a caller's own module).
A module with both (a DCN backbone under a deformable-attention decoder) is read as
convolutions; its attention modules are named in `FoundLayers.unprobed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from deformviz.probe import DEFAULT_CHAIN_LENGTH, attention_layers, deformable_layers

__all__ = ["FoundLayers", "find_layers", "default_attention_layer"]


@dataclass(frozen=True)
class FoundLayers:
    """The recognised layers of a module.

    Attributes:
        family: "convolution" or "attention" (see `LoadedNetwork.family`).
        names: qualified module names of that family, in registration order.
        default_chain: the last DEFAULT_CHAIN_LENGTH convs, or the last decoder attention.
        unprobed: attention modules of a module read as convolutions (empty otherwise).
    """

    family: str
    names: tuple[str, ...]
    default_chain: tuple[str, ...]
    unprobed: tuple[str, ...] = ()


def default_attention_layer(names: tuple[str, ...]) -> tuple[str, ...]:
    """The layer attention commands draw by default: the last decoder one (where a query's
    sampling ends), else the last one."""
    decoder = [name for name in names if ".decoder." in f".{name}."]
    return tuple(decoder[-1:] or names[-1:])


def find_layers(module: nn.Module) -> FoundLayers:
    """The deformable convolutions of `module` if it has any, else its multi-scale deformable
    attention modules (both found by class, through the probe's adapter registries).

    >>> find_layers(nn.Conv2d(3, 8, 3)).names
    ()
    """
    convs = tuple(name for name, _, _ in deformable_layers(module))
    attention = tuple(name for name, _, _ in attention_layers(module))
    if convs or not attention:
        return FoundLayers("convolution", convs, convs[-DEFAULT_CHAIN_LENGTH:], attention)
    return FoundLayers("attention", attention, default_attention_layer(attention))
