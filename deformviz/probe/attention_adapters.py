"""Attention adapters: how the probe recognises a multi-scale deformable attention module and
sees the sampling locations and weights its sampling core received.

Every library computes the locations and softmaxed weights inside the attention module and
hands them to a core (the pure-PyTorch function or the compiled kernel), so the probe reads
them at that hand-over, whichever core runs:

- transformers, core module `attn` (forward pre-hook, arguments 4 and 5):
  `transformers.models.<m>.modeling_<m>.<C>MultiscaleDeformableAttention` for deformable_detr,
  rt_detr, grounding_dino, mm_grounding_dino, omdet_turbo, lw_detr and rf_detr;
- transformers, core function: rt_detr_v2 (`multi_scale_deformable_attention_v2`), d_fine and
  deimv2 (instance attribute `ms_deformable_attn_core`), mask2former and oneformer pixel
  decoders (`multi_scale_deformable_attention`, mask True at padding);
- mmcv `mmcv.ops.multi_scale_deform_attn.MultiScaleDeformableAttention`, detrex
  `detrex.layers.multi_scale_deform_attn.MultiScaleDeformableAttention` and Grounding DINO
  `groundingdino.models.GroundingDINO.ms_deform_attn.MultiScaleDeformableAttention`:
  `multi_scale_deformable_attn_pytorch` or `MultiScaleDeformableAttnFunction.apply`;
- ultralytics `ultralytics.nn.modules.transformer.MSDeformAttn`:
  `multi_scale_deformable_attn_pytorch`;
- the authors' `MSDeformAttn` (any package ending in `ops.modules.ms_deform_attn`):
  `MSDeformAttnFunction.apply`.

Functions are replaced by a recording wrapper in the module's own namespace only while the
probe runs, and put back when its handles are removed (also after an exception). Classes are
matched by class path along the MRO (`adapters.matching_class`), never imported; other kinds
are added with `register_layer_adapter`, the one registry of both families.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from .adapters import first_match, matching_class

__all__ = ["Slot", "CoreCall", "AttentionAdapter", "CoreSink", "OuterSink", "attach_attention",
           "read_tensor", "BUILTIN_ATTENTION_ADAPTERS", "find_attention_adapter"]


@dataclass(frozen=True)
class Slot:
    """An argument of a call: its position (0 = first argument after self) and keyword."""

    position: int
    keyword: str

    def read(self, args: tuple, kwargs: dict) -> object:
        if self.keyword in kwargs:
            return kwargs[self.keyword]
        return args[self.position] if len(args) > self.position else None


@dataclass(frozen=True)
class CoreCall:
    """One way the sampling core is called, and where its arguments are.

    Attributes:
        name: the submodule (how="submodule"), the function's name in the outer class's
            module ("function"; "Name.apply" for an autograd Function) or the instance
            attribute holding the function ("attribute").
        how: "submodule", "function" or "attribute".
        shapes, locations, weights: positions of the spatial shapes ((H, W) per level), the
            sampling locations and the attention weights in the core's call.
        points_list: position of the per-level point counts when the core takes its levels
            flattened ([B, Q, M, sum K_l, 2], RT-DETR v2 / D-FINE), else None.
    """

    name: str
    how: str
    shapes: int
    locations: int
    weights: int
    points_list: int | None = None


CoreSink = Callable[[nn.Module, CoreCall, tuple, dict], None]
"""Called with (outer module, the core call's spec, its args, kwargs) when the core runs."""

OuterSink = Callable[[nn.Module, "AttentionAdapter", tuple, dict], None]


@dataclass(frozen=True)
class AttentionAdapter:
    """How to probe one kind of multi-scale deformable attention.

    Attributes:
        kind: short name recorded with each call.
        class_paths: "module.QualName" of the outer classes; a path starting with "." matches
            any module path ending so (the authors' code is imported under varying names).
        reference: the outer forward's reference-points argument.
        padding_mask: the outer forward's padding-mask argument, or None.
        mask_is_padding: True when the library's mask is True at padding (else at image).
        cores: the ways its sampling core is called (any one of them runs).
    """

    kind: str
    class_paths: tuple[str, ...]
    reference: Slot
    padding_mask: Slot | None
    mask_is_padding: bool
    cores: tuple[CoreCall, ...]

    def matches(self, module: nn.Module) -> bool:
        return matching_class(module, self.class_paths) is not None

    def defining_module(self, module: nn.Module) -> str:
        """The module path of the matched class (whose namespace holds the core function)."""
        cls = matching_class(module, self.class_paths)
        if cls is None:
            raise ValueError(f"{type(module).__name__} is not a {self.kind} attention")
        return cls.__module__


class _Restore:
    """A handle that undoes one patch when removed (like torch's RemovableHandle)."""

    def __init__(self, undo: Callable[[], None]) -> None:
        self._undo: Callable[[], None] | None = undo

    def remove(self) -> None:
        if self._undo is not None:
            undo, self._undo = self._undo, None
            undo()


class _ApplyProxy:
    """Stands in for an autograd Function class: `apply` records, everything else forwards."""

    def __init__(self, original: type, apply: Callable) -> None:
        self._original = original
        self.apply = apply

    def __getattr__(self, name: str) -> object:
        return getattr(self._original, name)


# (namespace module, name) -> [original, wrapper, users]; several layers of one class share
# the one wrapper, installed by the first and restored by the last to leave.
_PATCHED: dict[tuple[str, str], list] = {}
_CURRENT: list[tuple[nn.Module, CoreSink]] = []  # outer modules running, innermost last


def _recording(original: Callable, call: CoreCall) -> Callable:
    def wrapper(*args, **kwargs):  # noqa: ANN202 - stands in for any core function
        if _CURRENT:
            outer, sink = _CURRENT[-1]
            sink(outer, call, args, kwargs)
        return original(*args, **kwargs)

    return wrapper


def _patch_function(namespace: str, call: CoreCall) -> _Restore:
    key = (namespace, call.name)
    module = sys.modules[namespace]
    owner_name, _, method = call.name.partition(".")
    if key not in _PATCHED:
        original = getattr(module, owner_name)
        if method:
            wrapper = _ApplyProxy(original, _recording(getattr(original, method), call))
        else:
            wrapper = _recording(original, call)
        setattr(module, owner_name, wrapper)
        _PATCHED[key] = [original, wrapper, 0]
    _PATCHED[key][2] += 1

    def undo() -> None:
        entry = _PATCHED[key]
        entry[2] -= 1
        if entry[2] == 0:
            setattr(module, owner_name, entry[0])
            del _PATCHED[key]

    return _Restore(undo)


def _patch_attribute(layer: nn.Module, call: CoreCall) -> _Restore:
    had_own = call.name in layer.__dict__
    original = getattr(layer, call.name)
    setattr(layer, call.name, _recording(original, call))

    def undo() -> None:
        if had_own:
            setattr(layer, call.name, original)
        else:
            delattr(layer, call.name)

    return _Restore(undo)


def attach_attention(layer: nn.Module, adapter: AttentionAdapter, on_core: CoreSink,
                     before: OuterSink, after: Callable[[nn.Module], None],
                     handles: list) -> None:
    """Hooks (and, for function cores, patches) on one attention module, appended to
    `handles` as they are made: `before` when the outer module starts (its arguments),
    `on_core` when its core runs, `after` when it returns."""

    def pre(module: nn.Module, args: tuple, kwargs: dict) -> None:
        _CURRENT.append((module, on_core))
        before(module, adapter, args, kwargs)

    def post(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        if _CURRENT and _CURRENT[-1][0] is module:
            _CURRENT.pop()
        after(module)

    handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
    handles.append(layer.register_forward_hook(post, with_kwargs=True))
    handles.append(_Restore(lambda: _CURRENT.clear()))
    for call in adapter.cores:
        if call.how == "submodule":
            core = layer.get_submodule(call.name)

            def core_pre(_: nn.Module, args: tuple, kwargs: dict, call: CoreCall = call) -> None:
                on_core(layer, call, args, kwargs)

            handles.append(core.register_forward_pre_hook(core_pre, with_kwargs=True))
        elif call.how == "function":
            namespace = adapter.defining_module(layer)
            owner = call.name.partition(".")[0]
            if hasattr(sys.modules.get(namespace), owner):
                handles.append(_patch_function(namespace, call))
        elif call.how == "attribute":
            handles.append(_patch_attribute(layer, call))
        else:
            raise ValueError(f"unknown core call kind {call.how!r}")


_TF = "transformers.models"
_HF_REFERENCE = Slot(5, "reference_points")
_HF_MASK = Slot(1, "attention_mask")
_HF_ATTN = (CoreCall("attn", "submodule", shapes=2, locations=4, weights=5),)
_TORCH_FUNCTION = CoreCall("multi_scale_deformable_attn_pytorch", "function", 1, 2, 3)
_KERNEL_FUNCTION = CoreCall("MultiScaleDeformableAttnFunction.apply", "function", 1, 3, 4)

BUILTIN_ATTENTION_ADAPTERS: tuple[AttentionAdapter, ...] = (
    AttentionAdapter("transformers",
                     tuple(f"{_TF}.{m}.modeling_{m}.{c}MultiscaleDeformableAttention"
                           for m, c in (("deformable_detr", "DeformableDetr"),
                                        ("rt_detr", "RTDetr"), ("grounding_dino", "GroundingDino"),
                                        ("mm_grounding_dino", "MMGroundingDino"),
                                        ("omdet_turbo", "OmDetTurbo"), ("lw_detr", "LwDetr"),
                                        ("rf_detr", "RfDetr"))),
                     _HF_REFERENCE, _HF_MASK, False, _HF_ATTN),
    AttentionAdapter("transformers",
                     (f"{_TF}.rt_detr_v2.modeling_rt_detr_v2."
                      "RTDetrV2MultiscaleDeformableAttention",),
                     _HF_REFERENCE, _HF_MASK, False,
                     (CoreCall("multi_scale_deformable_attention_v2", "function", 1, 2, 3, 4),)),
    AttentionAdapter("transformers",
                     (f"{_TF}.d_fine.modeling_d_fine.DFineMultiscaleDeformableAttention",
                      f"{_TF}.deimv2.modeling_deimv2.Deimv2MultiscaleDeformableAttention"),
                     Slot(2, "reference_points"), _HF_MASK, False,
                     (CoreCall("ms_deformable_attn_core", "attribute", 1, 2, 3, 4),)),
    AttentionAdapter("transformers",
                     (f"{_TF}.mask2former.modeling_mask2former."
                      "Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention",
                      f"{_TF}.oneformer.modeling_oneformer."
                      "OneFormerPixelDecoderEncoderMultiscaleDeformableAttention"),
                     _HF_REFERENCE, _HF_MASK, True,
                     (CoreCall("multi_scale_deformable_attention", "function", 1, 2, 3),)),
    AttentionAdapter("mmcv", ("mmcv.ops.multi_scale_deform_attn.MultiScaleDeformableAttention",),
                     Slot(6, "reference_points"), Slot(5, "key_padding_mask"), True,
                     (_TORCH_FUNCTION, _KERNEL_FUNCTION)),
    AttentionAdapter("detrex",
                     ("detrex.layers.multi_scale_deform_attn.MultiScaleDeformableAttention",),
                     Slot(6, "reference_points"), Slot(5, "key_padding_mask"), True,
                     (_TORCH_FUNCTION, _KERNEL_FUNCTION)),
    AttentionAdapter("groundingdino",
                     ("groundingdino.models.GroundingDINO.ms_deform_attn."
                      "MultiScaleDeformableAttention",),
                     Slot(5, "reference_points"), Slot(4, "key_padding_mask"), True,
                     (_TORCH_FUNCTION, _KERNEL_FUNCTION)),
    # ultralytics' docstring calls value_mask "True for non-padding", but its code zeroes the
    # values where the mask is True: recorded as the code uses it.
    AttentionAdapter("ultralytics", ("ultralytics.nn.modules.transformer.MSDeformAttn",),
                     Slot(1, "refer_bbox"), Slot(4, "value_mask"), True, (_TORCH_FUNCTION,)),
    AttentionAdapter("deformable-detr", (".ops.modules.ms_deform_attn.MSDeformAttn",),
                     Slot(1, "reference_points"), Slot(5, "input_padding_mask"), True,
                     (CoreCall("MSDeformAttnFunction.apply", "function", 1, 3, 4),)),
)

def find_attention_adapter(module: nn.Module, extra: Sequence[AttentionAdapter] = ()
                           ) -> AttentionAdapter | None:
    """The adapter for `module`: `extra` first, then registered (`register_layer_adapter`, the
    one registry of layer kinds), then built-in; or None."""
    return first_match(module, AttentionAdapter, extra,  # type: ignore[return-value]
                       BUILTIN_ATTENTION_ADAPTERS)


def read_tensor(slot: Slot | None, args: tuple, kwargs: dict) -> Tensor | None:
    """The tensor argument at `slot`, or None (absent, None or not a tensor)."""
    if slot is None:
        return None
    value = slot.read(args, kwargs)
    return value if isinstance(value, Tensor) else None
