"""What the probe records of one forward pass: typed records, no dicts of strings.

One family of layer records: `LayerRecord` is what every recognised layer's call has (its name
and the adapter that recognised it); each kind of sampling adds its own facts in a subclass.
`DeformLayerRecord` is a deformable convolution's call: its geometry read from the module
(`DeformLayerGeometry`), the offsets and masks exactly as the operator used them, and where its
input and output maps sit on the model input (`MapGrid`). A layer that samples several maps
(deformable attention: reference points, levels, heads, weights) is another subclass with
per-level sizes and grids. The flattened views for saved data (`deformviz.visualize.results.
LayerInfo.from_record`) and for the explore page (`ExploreLayer.from_record`) derive from
these. `ProbeResult` holds them all in execution order and finds layers by name (`find`,
`chain`, through `LayerIndex`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from torch import Tensor

from deformviz.geometry import ChainLayer, DeformLayerGeometry, MapGrid

from .layer_index import DEFAULT_CHAIN_LENGTH, LayerIndex, LayerNameError, paper_name

__all__ = ["MapGrid", "LayerRecord", "DeformLayerRecord", "ProbeResult", "LayerNameError",
           "paper_name", "pyramid_level"]


@dataclass(frozen=True, eq=False)
class LayerRecord:
    """One call of one recognised layer during the probed forward pass (the family's root).

    Attributes:
        name: qualified module name (`named_modules`), e.g. "backbone.layer4.0.conv2"; a
            second call of the same module is "name#2".
        kind: the adapter that recognised it, e.g. "deformviz", "torchvision", "mmcv-pack-v2".
    """

    name: str
    kind: str


@dataclass(frozen=True, eq=False)
class DeformLayerRecord(LayerRecord):
    """One call of one deformable convolution during the probed forward pass.

    Attributes:
        name, kind: see `LayerRecord`.
        geometry: kernel, stride, padding, dilation (pairs, input cells) and offset groups G.
        modulated: DCNv2 (a mask multiplies each sample) or DCNv1.
        weight_groups: the convolution's weight groups (ResNeXt cardinality; 1 for ResNet).
        offset: [B, 2 * G * K, Hout, Wout] offsets in input cells, (dy, dx) per tap k =
            i * kw + j, group-major, as the operator received them.
        mask: [B, G * K, Hout, Wout] after the sigmoid (what multiplied the samples), or None.
        input_size: (H, W) cells of the map the layer sampled.
        output_size: (Hout, Wout) cells of its output map.
        input_grid: where the input map's cells sit on the model input.
        output_grid: where the output map's cells sit on the model input.
    """

    geometry: DeformLayerGeometry
    modulated: bool
    weight_groups: int
    offset: Tensor
    mask: Tensor | None
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    input_grid: MapGrid
    output_grid: MapGrid

    @property
    def version(self) -> str:
        """"DCNv2" (modulated) or "DCNv1"."""
        return "DCNv2" if self.modulated else "DCNv1"

    def chain_layer(self, batch_index: int = 0) -> ChainLayer:
        """This record as one layer of a geometry chain, for image `batch_index`."""
        mask = None if self.mask is None else self.mask[batch_index]
        return ChainLayer(self.geometry, self.offset[batch_index], mask, self.input_size,
                          self.input_grid, self.output_grid)


def pyramid_level(grid: MapGrid) -> int | None:
    """The FPN level whose stride a map grid has (p3: 8 model-input pixels per cell, p4:
    16, ...), or None when the stride is not the same power of two on both axes."""
    stride_y, stride_x = grid.stride
    if stride_y != stride_x or stride_y < 1 or not float(stride_y).is_integer():
        return None
    level = int(stride_y).bit_length() - 1
    return level if 2 ** level == int(stride_y) else None


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """Every deformable layer one forward pass ran, in execution order.

    Attributes:
        layers: one record per call, in the order the layers ran (bottom to top).
        input_size: (H, W) model-input pixels of the probed tensor (after any padding).
        outputs: what the module returned (kept only when asked for), else None.
        aliases: extra names -> qualified names (a network's own names for its layers, such as
            the bundled network's "res5a").
        notes: what the probe had to assume (a map grid no conv arithmetic led to), for people.
    """

    layers: tuple[DeformLayerRecord, ...]
    input_size: tuple[int, int]
    outputs: Any = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(record.name for record in self.layers)

    @property
    def index(self) -> LayerIndex:
        """The layers this pass ran, as a `LayerIndex` (find, chain, label; calls of a layer
        run once per pyramid level named by their level)."""
        levels = {record.name: level for record in self.layers
                  if (level := pyramid_level(record.input_grid)) is not None}
        return LayerIndex(self.names, self.aliases, levels=levels)

    def label(self, name: str) -> str:
        """A short name for people: an alias, the paper's name, else the qualified name; a
        layer called once per pyramid level gets its level ("cls_convs.0.conv@p4")."""
        return self.index.label(name)

    def find(self, name: str) -> DeformLayerRecord:
        """The record of layer `name`: a qualified name, an alias, a unique dotted suffix
        ("layer4.0.conv2" for "backbone.layer4.0.conv2") or the paper's name ("res5a"). A
        layer called once per pyramid level (an FPN head's) is named with its level,
        "bbox_head.cls_convs.0.conv@p4" (its call on the stride-16 map), or its call, "#2".

        Raises:
            LayerNameError: no layer or several layers match, or a layer run at several
                levels is named without one.
        """
        return self.layers[self.names.index(self.index.find(name))]

    def chain(self, names: Sequence[str] | None = None,
              default_length: int = DEFAULT_CHAIN_LENGTH) -> tuple[DeformLayerRecord, ...]:
        """The layers to trace, bottom to top: `names` in execution order, or the last
        `default_length` deformable layers (a ResNet-DCN's res5a/b/c)."""
        index = replace(self.index, default=self.names[-default_length:])
        return tuple(self.layers[self.names.index(name)] for name in index.chain(names))
