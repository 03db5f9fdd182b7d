"""A network, loaded: the module, how to feed it, what was recognised, and its heads.

The one implementation of `deformviz.networks.Network`: the bundled detector, deformviz's
exports, mmdetection / detectron2 checkpoints and the user's factories are all one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

from deformviz.geometry import MapGrid
from deformviz.probe import DEFAULT_CHAIN_LENGTH, LayerIndex

from .network import DetectionHead, ImagePreparation, RoIHead

__all__ = ["LoadedNetwork", "DEFAULT_CHAIN_LENGTH"]


@dataclass(frozen=True, eq=False)
class LoadedNetwork:
    """A network ready to probe (a `deformviz.networks.Network`).

    Attributes:
        module: in eval mode; module(tensor [B, 3, H, W], prepared by `preprocessing`) runs it
            (a rebuilt backbone returns {"c2": ..., "c5": ...}).
        preprocessing: what the network expects of an image (`preprocessing.prepare(image)`).
        format: "mmdetection", "detectron2", "factory", "module", "bundled",
            "deformviz-export" or "transformers".
        architecture: one line, e.g. "ResNet-50, pytorch style (stride on the 3x3), DCNv2 in
            c3-c5".
        deformable_layers: qualified module names (as in `module.named_modules()`) of every
            deformable conv (or, for family "attention", every multi-scale deformable attention
            module), in the order the input meets them.
        default_chain: the layers `sample` draws by default: the last three deformable layers
            (layer4.0/1/2.conv2 = res5a/b/c in a ResNet with DCN in c5).
        source: the file path or factory spec it came from.
        details: further facts for `deformviz inspect`, in display order ("file", "style",
            "blocks per stage", ..., one entry per deformable layer named by it, ...).
        aliases: the network's own names of its layers -> qualified names (res5a, ...).
        detection_head: objects from the outputs of the probed pass, or None.
        roi_head: classes and deformed bins of boxes, or None.
        grids: input size -> {map size: MapGrid} the network states itself, or None.
        recorded: which facts results record beside the name (`facts`), in order.
        family: "convolution" (deformable convs, DCNv1-v4: `deformviz.probe.probe`) or
            "attention" (multi-scale deformable attention: `deformviz.probe.probe_attention`);
            the commands choose their path by it.
    """

    module: nn.Module
    preprocessing: ImagePreparation
    format: str
    architecture: str
    deformable_layers: tuple[str, ...]
    default_chain: tuple[str, ...]
    source: str
    details: dict[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    detection_head: DetectionHead | None = None
    roi_head: RoIHead | None = None
    grids: Callable[[tuple[int, int]], Mapping[tuple[int, int], MapGrid]] | None = None
    recorded: tuple[str, ...] = ("format", "architecture", "input")
    family: str = "convolution"

    def facts(self) -> dict[str, str]:
        """What identifies the network in results (statistics settings), beside its name:
        the `recorded` ones of format, architecture and input (the preprocessing)."""
        known = {"format": self.format, "architecture": self.architecture,
                 "input": self.preprocessing.describe()}
        return {key: known[key] for key in self.recorded}

    @property
    def layers(self) -> LayerIndex:
        """Its deformable layers: find by any name, chains, labels, the default chain."""
        return LayerIndex(self.deformable_layers, self.aliases, self.default_chain)

    def stated_grids(self, input_size: tuple[int, int]) -> Mapping[tuple[int, int], MapGrid]:
        """Map size -> grid the network states itself for an (H, W) input (empty: none)."""
        return {} if self.grids is None else self.grids(input_size)


def default_chain(deformable_layers: tuple[str, ...]) -> tuple[str, ...]:
    """The last DEFAULT_CHAIN_LENGTH deformable layers (all of them if there are fewer)."""
    return deformable_layers[-DEFAULT_CHAIN_LENGTH:]
