"""A user's network, loaded: the module, how to feed it, and what was recognised."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from deformviz.probe import DEFAULT_CHAIN_LENGTH

from .preprocessing import Preprocessing

__all__ = ["LoadedNetwork", "DEFAULT_CHAIN_LENGTH"]


@dataclass(frozen=True, eq=False)
class LoadedNetwork:
    """A network ready to probe.

    Attributes:
        module: in eval mode; module(tensor [B, 3, H, W], prepared by `preprocessing`) runs it
            (a rebuilt backbone returns {"c2": ..., "c5": ...}).
        preprocessing: what the network expects of an image (`preprocessing.prepare(image)`).
        format: "mmdetection", "detectron2", "factory" or "bundled".
        architecture: one line, e.g. "ResNet-50, pytorch style (stride on the 3x3), DCNv2 in
            c3-c5".
        deformable_layers: qualified module names (as in `module.named_modules()`) of every
            deformable conv, in the order the input meets them.
        default_chain: the layers `sample` draws by default: the last three deformable layers
            (layer4.0/1/2.conv2 = res5a/b/c in a ResNet with DCN in c5).
        source: the file path or factory spec it came from.
        details: further facts for `deformviz inspect`, in display order ("file", "style",
            "blocks per stage", ..., one entry per deformable layer named by it, ...).
    """

    module: nn.Module
    preprocessing: Preprocessing
    format: str
    architecture: str
    deformable_layers: tuple[str, ...]
    default_chain: tuple[str, ...]
    source: str
    details: dict[str, str] = field(default_factory=dict)


def default_chain(deformable_layers: tuple[str, ...]) -> tuple[str, ...]:
    """The last DEFAULT_CHAIN_LENGTH deformable layers (all of them if there are fewer)."""
    return deformable_layers[-DEFAULT_CHAIN_LENGTH:]
