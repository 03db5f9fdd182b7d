"""Layer-kind adapters: how the probe recognises a deformable layer, reads its geometry and
sees the offsets (and mask) it used.

Built in:

| kind            | class (recognised by module path and name, anywhere in its MRO) | offsets from |
|-----------------|------------------------------------------------------------------|--------------|
| deformviz       | deformviz.ops.DeformConv2d and DeformConv2dPack                  | its offset hook |
| torchvision     | torchvision.ops.deform_conv.DeformConv2d                         | forward arguments (offset, mask) |
| mmcv            | mmcv.ops.deform_conv.DeformConv2d                                | forward argument offset |
| mmcv-pack       | mmcv.ops.deform_conv.DeformConv2dPack                            | its `conv_offset` output |
| mmcv-v2         | mmcv.ops.modulated_deform_conv.ModulatedDeformConv2d             | forward arguments (offset, mask) |
| mmcv-pack-v2    | mmcv.ops.modulated_deform_conv.ModulatedDeformConv2dPack         | `conv_offset` output, cut in 3: [o1, o2] offset, sigmoid(m) mask |
| detectron2      | detectron2.layers.deform_conv.DeformConv                         | forward argument offset |
| detectron2-v2   | detectron2.layers.deform_conv.ModulatedDeformConv                | forward arguments (offset, mask) |
| dcnv3           | InternImage's ops_dcnv3.modules.dcnv3.DCNv3 / DCNv3_pytorch, deformviz's DCNv3Module | `offset`, softmax of `mask` (channels last) |
| dcnv4           | DCNv4.modules.dcnv4.DCNv4, deformviz's DCNv4Module               | `offset_mask`, split (no softmax) |

Library classes are matched by their `__module__` and `__qualname__` (`matching_class`, also
used by the attention adapters), so nothing is ever imported: a model holding an mmcv layer has
imported mmcv already, and without one there is nothing to find. DCNv3 / DCNv4 (`dcnv3_layers`)
read their channels-last map sizes themselves (`map_sizes`) and become `DCNv3LayerRecord`s
(`refine`). Any other kind, convolution or attention: `register_layer_adapter` (or pass
`adapters=` to `probe` / `probe_attention`); the one registry holds both families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from deformviz.geometry import DeformLayerGeometry
from . import dcnv3_layers
from .class_paths import matching_class
from .records import DeformLayerRecord

__all__ = ["LayerSpec", "LayerAdapter", "OffsetSink", "OffsetSource", "from_forward_arguments",
           "from_submodule_output", "from_offset_hook", "split_modulated", "spec_from_attributes",
           "register_layer_adapter", "unregister_layer_adapter", "find_adapter", "first_match",
           "matching_class", "BUILTIN_ADAPTERS"]

OffsetSink = Callable[[Tensor, "Tensor | None"], None]
"""Called with (offset [B, 2GK, Ho, Wo], mask [B, GK, Ho, Wo] or None) each time the layer runs."""

OffsetSource = Callable[[nn.Module, OffsetSink], list[RemovableHandle]]
"""Attaches hooks to a layer that feed the sink; returns the handles (the probe removes them)."""


def _pair(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    pair = tuple(value)  # type: ignore[arg-type]
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class LayerSpec:
    """A deformable layer's geometry as read from its module.

    Attributes:
        kernel_size, stride, padding, dilation: (h, w) pairs, input cells (ints are expanded).
        weight_groups: the convolution's groups.
        offset_groups: G, or None when the module does not store it (torchvision): the probe
            then takes it from the offset's channels, 2 * G * kh * kw.
        modulated: DCNv2, or None when only the call tells (a mask argument was passed).
    """

    kernel_size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    weight_groups: int = 1
    offset_groups: int | None = None
    modulated: bool | None = None

    def __post_init__(self) -> None:
        for name in ("kernel_size", "stride", "padding", "dilation"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))

    def geometry(self, offset_channels: int) -> DeformLayerGeometry:
        """The records' geometry of the layer: this spec, with G from the module or else
        from the offset's channels (2 G K). Raises ValueError when the channels fit no G."""
        taps = self.kernel_size[0] * self.kernel_size[1]
        groups = self.offset_groups
        if groups is None:
            if offset_channels % (2 * taps) or not offset_channels:
                raise ValueError(f"{offset_channels} offset channels do not fit a "
                                 f"{self.kernel_size[0]}x{self.kernel_size[1]} kernel (2 * G * K)")
            groups = offset_channels // (2 * taps)
        return DeformLayerGeometry(self.kernel_size, self.stride, self.padding, self.dilation,
                                   groups)


def spec_from_attributes(module: nn.Module, modulated: bool | None = None) -> LayerSpec:
    """A LayerSpec from the attributes every library's deformable conv keeps: kernel_size,
    stride, padding, dilation, groups and deform_groups / deformable_groups / offset_groups."""
    offset_groups = None
    for name in ("offset_groups", "deform_groups", "deformable_groups"):
        if isinstance(getattr(module, name, None), int):
            offset_groups = getattr(module, name)
            break
    if modulated is None and isinstance(getattr(module, "modulated", None), bool):
        modulated = module.modulated  # type: ignore[assignment]
    return LayerSpec(module.kernel_size, module.stride, module.padding,  # type: ignore[arg-type]
                     module.dilation, int(getattr(module, "groups", 1)), offset_groups, modulated)


@dataclass(frozen=True)
class LayerAdapter:
    """How to probe one kind of deformable layer.

    Attributes:
        kind: a short name recorded with each layer ("torchvision", "my-dcn", ...).
        matches: module -> whether this adapter handles it.
        spec: module -> its LayerSpec (geometry read from the module).
        source: attaches the hooks that report the offsets and mask the layer used; see
            `from_forward_arguments`, `from_submodule_output`, `from_offset_hook`.
        map_sizes: (module, args, kwargs, output) -> ((H, W) of the map it sampled,
            (Ho, Wo) of its output), for layers whose tensors are not [N, C, H, W]
            (None: the last two dimensions of the first input and of the output).
        refine: (generic record, module) -> the record as a subclass with the kind's own
            facts (None: the DeformLayerRecord as it is).
    """

    kind: str
    matches: Callable[[nn.Module], bool]
    spec: Callable[[nn.Module], LayerSpec]
    source: OffsetSource
    map_sizes: Callable[[nn.Module, tuple, dict, object],
                        tuple[tuple[int, int], tuple[int, int]]] | None = None
    refine: Callable[[DeformLayerRecord, nn.Module], DeformLayerRecord] | None = None


def _argument(args: tuple, kwargs: dict, position: int, name: str) -> Tensor | None:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


def from_forward_arguments(offset: tuple[int, str] = (1, "offset"),
                           mask: tuple[int, str] | None = None) -> OffsetSource:
    """Offsets (and mask) passed to the layer's forward as arguments, given as (position,
    keyword) with the input at position 0; read by a forward pre-hook, before the layer runs."""

    def attach(module: nn.Module, sink: OffsetSink) -> list[RemovableHandle]:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            found = _argument(args, kwargs, *offset)
            if found is None:
                raise RuntimeError(f"{type(module).__name__} was called without an offset "
                                   f"argument ({offset[1]!r} at position {offset[0]})")
            sink(found, None if mask is None else _argument(args, kwargs, *mask))

        return [module.register_forward_pre_hook(hook, with_kwargs=True)]

    return attach


def split_modulated(raw: Tensor) -> tuple[Tensor, Tensor]:
    """mmcv's / detectron2's DCNv2 offset-conv output [B, 3GK, H, W] -> (offset [B, 2GK, H, W],
    mask [B, GK, H, W]): three equal chunks, the first two concatenated are the offset, the
    third through a sigmoid is the mask."""
    first, second, logits = torch.chunk(raw, 3, dim=1)
    return torch.cat([first, second], dim=1), logits.sigmoid()


def from_submodule_output(name: str = "conv_offset",
                          split: Callable[[Tensor], tuple[Tensor, Tensor | None]] | None = None
                          ) -> OffsetSource:
    """Offsets predicted by the submodule `name` (its output, through `split` when it holds the
    mask too); read by a forward hook on that submodule, which runs inside the layer."""

    def attach(module: nn.Module, sink: OffsetSink) -> list[RemovableHandle]:
        predictor = module.get_submodule(name)

        def hook(_: nn.Module, args: tuple, output: Tensor) -> None:
            sink(*(split(output) if split is not None else (output, None)))

        return [predictor.register_forward_hook(hook)]

    return attach


def from_offset_hook() -> OffsetSource:
    """Modules with deformviz's `register_offset_hook` (deformviz.ops.DeformConv2d and
    DeformConv2dPack): exactly the tensors its operator received."""

    def attach(module: nn.Module, sink: OffsetSink) -> list[RemovableHandle]:
        return [module.register_offset_hook(  # type: ignore[operator]
            lambda _, offset, mask=None, **rest: sink(offset, mask))]

    return attach


def _library_class(module_path: str, name: str) -> Callable[[nn.Module], bool]:
    """Matches instances of a library class (or subclasses) without importing the library."""
    paths = (f"{module_path}.{name}",)
    return lambda module: matching_class(module, paths) is not None


def _deformviz_matches(module: nn.Module) -> bool:
    from deformviz.ops import DeformConv2d

    return isinstance(module, DeformConv2d)


_ARGS_V1 = from_forward_arguments((1, "offset"))
_ARGS_V2 = from_forward_arguments((1, "offset"), (2, "mask"))
_MMCV, _MMCV_V2 = "mmcv.ops.deform_conv", "mmcv.ops.modulated_deform_conv"
_D2 = "detectron2.layers.deform_conv"

def _dcnv3_spec(module: nn.Module) -> LayerSpec:
    kernel, stride, pad, dilation, groups, _ = dcnv3_layers.dcnv3_geometry(module)
    return LayerSpec(kernel, stride, pad, dilation, 1, groups, True)


# Most derived first: mmcv's Pack classes subclass the plain ones.
BUILTIN_ADAPTERS: tuple[LayerAdapter, ...] = (
    LayerAdapter("dcnv3", dcnv3_layers.is_dcnv3, _dcnv3_spec, dcnv3_layers.dcnv3_source,
                 dcnv3_layers.channels_last_sizes, dcnv3_layers.as_dcnv3_record),
    LayerAdapter("dcnv4", dcnv3_layers.is_dcnv4, _dcnv3_spec, dcnv3_layers.dcnv4_source,
                 dcnv3_layers.token_sizes, dcnv3_layers.as_dcnv3_record),
    LayerAdapter("deformviz", _deformviz_matches, spec_from_attributes, from_offset_hook()),
    LayerAdapter("mmcv-pack-v2", _library_class(_MMCV_V2, "ModulatedDeformConv2dPack"),
                 lambda m: spec_from_attributes(m, True),
                 from_submodule_output("conv_offset", split_modulated)),
    LayerAdapter("mmcv-pack", _library_class(_MMCV, "DeformConv2dPack"),
                 lambda m: spec_from_attributes(m, False), from_submodule_output("conv_offset")),
    LayerAdapter("mmcv-v2", _library_class(_MMCV_V2, "ModulatedDeformConv2d"),
                 lambda m: spec_from_attributes(m, True), _ARGS_V2),
    LayerAdapter("mmcv", _library_class(_MMCV, "DeformConv2d"),
                 lambda m: spec_from_attributes(m, False), _ARGS_V1),
    LayerAdapter("detectron2-v2", _library_class(_D2, "ModulatedDeformConv"),
                 lambda m: spec_from_attributes(m, True), _ARGS_V2),
    LayerAdapter("detectron2", _library_class(_D2, "DeformConv"),
                 lambda m: spec_from_attributes(m, False), _ARGS_V1),
    LayerAdapter("torchvision", _library_class("torchvision.ops.deform_conv", "DeformConv2d"),
                 spec_from_attributes, _ARGS_V2),
)

_REGISTERED: list = []  # every registered adapter, of any family, latest first


def register_layer_adapter(adapter: object) -> object:
    """Make every later probe recognise another kind of layer: a `LayerAdapter` (deformable
    convolution, for `probe`) or a `deformviz.probe.attention_adapters.AttentionAdapter`
    (multi-scale deformable attention, for `probe_attention`); checked before the built-in
    ones, latest first. Returns the adapter, for `unregister_layer_adapter`.

    Example:
        >>> class MyDCN(nn.Module):  # predicts offsets in `self.offsets`, samples in forward
        ...     kernel_size, stride, padding, dilation, groups = (3, 3), (1, 1), (1, 1), (1, 1), 1
        >>> adapter = register_layer_adapter(LayerAdapter(
        ...     "my-dcn", lambda m: isinstance(m, MyDCN), spec_from_attributes,
        ...     from_submodule_output("offsets")))
        >>> unregister_layer_adapter(adapter)
    """
    if not isinstance(getattr(adapter, "kind", None), str) \
            or not callable(getattr(adapter, "matches", None)):
        raise TypeError(f"expected a LayerAdapter or an AttentionAdapter, got "
                        f"{type(adapter).__name__}")
    _REGISTERED.insert(0, adapter)
    return adapter


def unregister_layer_adapter(adapter: object) -> None:
    """Undo `register_layer_adapter` (no error if it is not registered)."""
    if adapter in _REGISTERED:
        _REGISTERED.remove(adapter)


def first_match(module: nn.Module, family: type, extra: Sequence = (),
                builtin: Sequence = ()) -> object | None:
    """The adapter of `family` (a class: LayerAdapter, AttentionAdapter) for `module`:
    `extra` first, then the registered ones (latest first), then `builtin`; or None."""
    for adapter in (*extra, *(a for a in _REGISTERED if isinstance(a, family)), *builtin):
        if adapter.matches(module):
            return adapter
    return None


def find_adapter(module: nn.Module, extra: Sequence[LayerAdapter] = ()) -> LayerAdapter | None:
    """The adapter for `module`: `extra` first, then registered ones, then built-in; or None."""
    return first_match(module, LayerAdapter, extra, BUILTIN_ADAPTERS)  # type: ignore[return-value]
