"""What the probe records of one forward pass: typed records, no dicts of strings.

`MapGrid` (re-exported from `deformviz.geometry.map_grid`) says where a map's cells sit on the
model input. `DeformLayerRecord` is one deformable layer's call: its geometry read from the
module, and the offsets and masks exactly as the operator used them. `ProbeResult` holds them
all in execution order and finds layers by name (`find`, `chain`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from deformviz.errors import InputError
from deformviz.geometry import ChainLayer, DeformLayerGeometry, MapGrid

__all__ = ["MapGrid", "DeformLayerRecord", "ProbeResult", "LayerNameError", "paper_name",
           "pyramid_level"]


class LayerNameError(InputError):
    """A layer name given by the user matches no deformable layer, or several."""


@dataclass(frozen=True, eq=False)
class DeformLayerRecord:
    """One call of one deformable layer during the probed forward pass.

    Attributes:
        name: qualified module name (`named_modules`), e.g. "backbone.layer4.0.conv2".
        kind: the adapter that recognised it, e.g. "deformviz", "torchvision", "mmcv-pack-v2".
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

    name: str
    kind: str
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


def _base_name(name: str) -> str:
    """"head.conv#3" (its third call) -> "head.conv"."""
    return name.split("#", 1)[0]


def pyramid_level(grid: MapGrid) -> int | None:
    """The FPN level whose stride a map grid has (p3: 8 model-input pixels per cell, p4:
    16, ...), or None when the stride is not the same power of two on both axes."""
    stride_y, stride_x = grid.stride
    if stride_y != stride_x or stride_y < 1 or not float(stride_y).is_integer():
        return None
    level = int(stride_y).bit_length() - 1
    return level if 2 ** level == int(stride_y) else None


def paper_name(name: str) -> str | None:
    """The paper's name of a ResNet block's deformable 3x3, else None.

    "layer4.0.conv2" (torchvision / mmdetection) and "res5.0.conv2" (detectron2) are "res5a":
    stage, then the block as a letter (past the 26th block, "b" and its number). The deep
    stages of MSRA's ResNet-101 are named differently (res4b1 ... res4b22); the qualified name
    is always shown beside this one where it matters. A layer wrapped inside conv2 (such as
    "layer4.0.conv2.dcn") gets the block's name.

    Example:
        >>> paper_name("backbone.layer4.2.conv2"), paper_name("res4.5.conv2"), paper_name("head")
        ('res5c', 'res4f', None)
        >>> paper_name("layer4.0.conv2.dcn"), paper_name("res3.1.conv2.0")
        ('res5a', 'res3b')
    """
    # A deformable layer wrapped in a submodule of conv2 ("layer4.0.conv2.dcn", a common way
    # to add torchvision's DeformConv2d) is still that block's 3x3.
    found = re.search(r"(?:^|\.)(?:layer(\d)|res(\d))\.(\d+)\.conv2(?:\.\w+)*$", name)
    if found is None:
        return None
    stage = int(found.group(1)) + 1 if found.group(1) else int(found.group(2))
    block = int(found.group(3))
    if block < 26:
        return f"res{stage}{chr(ord('a') + block)}"
    return f"res{stage}b{block}"


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

    def label(self, name: str) -> str:
        """A short name for people: an alias, the paper's name, else the qualified name; a
        layer called once per pyramid level gets its level ("cls_convs.0.conv@p4")."""
        for alias, target in self.aliases.items():
            if target == name:
                return alias
        base = _base_name(name)
        record = next((r for r in self.layers if r.name == name), None)
        if record is not None and len(self._calls(base)) > 1:
            level = self._levels(base).get(name)
            if level is not None:
                return f"{paper_name(base) or base}@p{level}"
        return paper_name(name) or name

    def _calls(self, base: str) -> list[DeformLayerRecord]:
        return [r for r in self.layers if _base_name(r.name) == base]

    def _levels(self, base: str) -> dict[str, int]:
        """Record name -> pyramid level of each call of layer `base`, when every call's input
        map has its own power-of-two stride (p3 = stride 8 ...); else {}."""
        levels = {}
        for record in self._calls(base):
            level = pyramid_level(record.input_grid)
            if level is None or level in levels.values():
                return {}
            levels[record.name] = level
        return levels

    def _matching_layers(self, name: str) -> list[str]:
        """Base names (calls merged) of the layers `name` names: qualified, alias, suffix or
        paper name."""
        bases = list(dict.fromkeys(_base_name(r.name) for r in self.layers))
        if name in bases:
            return [name]
        if name in self.aliases and self.aliases[name] in bases:
            return [self.aliases[name]]
        return [b for b in bases if b.endswith("." + name) or paper_name(b) == name]

    def find(self, name: str) -> DeformLayerRecord:
        """The record of layer `name`: a qualified name, an alias, a unique dotted suffix
        ("layer4.0.conv2" for "backbone.layer4.0.conv2") or the paper's name ("res5a"). A
        layer called once per pyramid level (an FPN head's) is named with its level,
        "bbox_head.cls_convs.0.conv@p4" (its call on the stride-16 map), or its call, "#2".

        Raises:
            LayerNameError: no layer or several layers match, or a layer run at several
                levels is named without one.
        """
        by_name = {record.name: record for record in self.layers}
        if name in by_name and "#" in name:
            return by_name[name]
        base_part, at, level_part = name.partition("@")
        matches = self._matching_layers(base_part)
        if not matches:
            known = ", ".join(self.label(n) if self.label(n) == n else f"{n} ({self.label(n)})"
                              for n in self.names) or "none"
            raise LayerNameError(f"no deformable layer named {name!r} (the network has: {known})")
        if len(matches) > 1:
            raise LayerNameError(f"layer name {name!r} is ambiguous: " + ", ".join(matches))
        base = matches[0]
        calls = self._calls(base)
        levels = self._levels(base)
        shown = ", ".join(f"p{levels[r.name]}" for r in calls if r.name in levels)
        if at:
            wanted = level_part[1:] if level_part[:1] in ("p", "P") else ""
            if not wanted.isdigit():
                raise LayerNameError(f"{name!r}: a pyramid level is written p3, p4, ... "
                                     f"(e.g. {base}@p4)")
            for record in calls:
                if levels.get(record.name) == int(wanted):
                    return record
            runs = f"runs at {shown}" if shown else f"is called {len(calls)} time(s)"
            raise LayerNameError(f"{name!r}: {base} {runs}, not at p{wanted}")
        if len(calls) > 1:
            how = (f"once per pyramid level ({shown}); name one, e.g. {base}@p{levels[calls[1].name]}"
                   if shown else f"{len(calls)} times; name one call, e.g. {calls[1].name}")
            raise LayerNameError(f"layer {name!r} is called {how}")
        return calls[0]

    def chain(self, names: Sequence[str] | None = None, default_length: int = 3
              ) -> tuple[DeformLayerRecord, ...]:
        """The layers to trace, bottom to top: `names` in execution order, or the last
        `default_length` deformable layers (a ResNet-DCN's res5a/b/c)."""
        if not self.layers:
            raise LayerNameError("the network ran no deformable layer")
        if not names:
            return self.layers[-default_length:]
        chosen = [self.find(name) for name in names]
        if len({id(r) for r in chosen}) != len(chosen):
            raise LayerNameError(f"a layer is named twice in {list(names)}")
        order = {id(r): i for i, r in enumerate(self.layers)}
        return tuple(sorted(chosen, key=lambda r: order[id(r)]))
