"""How the probe sees DCNv3 and DCNv4 modules: InternImage's `DCNv3` and `DCNv3_pytorch`
(`ops_dcnv3.modules.dcnv3`), DCNv4's `DCNv4` (`DCNv4.modules.dcnv4`), recognised by class
path (never imported), and deformviz's own rebuilt modules
(`deformviz.networks.internimage_model.DCNv3Module` / `DCNv4Module`).

- geometry: the attributes every one of them keeps (kernel_size, stride, pad, dilation, group,
  offset_scale).
- offsets: DCNv3 -- the outputs of its `offset` and `mask` Linear layers (the latter through
  the softmax over the K points of each group, as the module applies it); DCNv4 -- the output
  of `offset_mask`, split as the operator splits it (no softmax). Both are converted to the
  DeformLayerRecord layout (`geometry.dcnv3_offsets`).
- map sizes: DCNv3's input and output are [N, H, W, C]; DCNv4's [N, H * W, C] with
  shape=(H, W) (square when not given, as DCNv4 assumes).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from deformviz.geometry.dcnv3_offsets import dcnv3_as_deform

from .class_paths import matching_class
from .dcnv3_records import DCNv3LayerRecord
from .records import DeformLayerRecord

__all__ = ["is_dcnv3", "is_dcnv4", "dcnv3_geometry", "dcnv3_source", "dcnv4_source",
           "channels_last_sizes", "token_sizes", "as_dcnv3_record"]

Sink = Callable[[Tensor, "Tensor | None"], None]


_DCNV3 = ("ops_dcnv3.modules.dcnv3.DCNv3", "ops_dcnv3.modules.dcnv3.DCNv3_pytorch",
          "deformviz.networks.internimage_model.DCNv3Module")
_DCNV4 = ("DCNv4.modules.dcnv4.DCNv4", "deformviz.networks.internimage_model.DCNv4Module")


def is_dcnv3(module: nn.Module) -> bool:
    """InternImage's DCNv3 / DCNv3_pytorch or deformviz's DCNv3Module (by class path)."""
    return matching_class(module, _DCNV3) is not None


def is_dcnv4(module: nn.Module) -> bool:
    """DCNv4's DCNv4 or deformviz's DCNv4Module (by class path)."""
    return matching_class(module, _DCNV4) is not None


def _int(value: object) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)  # type: ignore[arg-type]


def dcnv3_geometry(module: nn.Module) -> tuple[int, int, int, int, int, float]:
    """(kernel, stride, pad, dilation, groups, offset_scale) of a DCNv3 / DCNv4 module (both
    keep them as ints named kernel_size, stride, pad, dilation, group)."""
    if getattr(module, "remove_center", 0):
        raise ValueError(f"{type(module).__name__} with remove_center is not supported")
    return (_int(module.kernel_size), _int(module.stride), _int(module.pad),
            _int(module.dilation), int(module.group), float(module.offset_scale))


def _converted(module: nn.Module, offset: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    kernel, _, _, dilation, groups, scale = dcnv3_geometry(module)
    return dcnv3_as_deform(offset, mask, groups, (kernel, kernel), (dilation, dilation), scale)


def dcnv3_source(module: nn.Module, sink: Sink) -> list[RemovableHandle]:
    """Hooks on the `offset` and `mask` Linear layers (run in that order inside forward)."""
    seen: dict[str, Tensor] = {}

    def on_offset(_: nn.Module, args: tuple, output: Tensor) -> None:
        seen["offset"] = output

    def on_mask(_: nn.Module, args: tuple, output: Tensor) -> None:
        groups = int(module.group)
        weights = output.unflatten(-1, (groups, -1)).softmax(-1).flatten(-2)
        sink(*_converted(module, seen.pop("offset"), weights))

    return [module.get_submodule("offset").register_forward_hook(on_offset),
            module.get_submodule("mask").register_forward_hook(on_mask)]


def _token_shape(args: tuple, kwargs: dict) -> tuple[int, int]:
    tokens = args[0] if args else kwargs["input"]
    shape = kwargs.get("shape", args[1] if len(args) > 1 else None)
    if shape is None:  # DCNv4's own rule: a square map
        side = int(math.isqrt(int(tokens.shape[1])))
        return side, side
    return int(shape[0]), int(shape[1])


def dcnv4_source(module: nn.Module, sink: Sink) -> list[RemovableHandle]:
    """A pre-hook for the map's (H, W), and a hook on `offset_mask` (split, no softmax)."""
    from deformviz.ops.dcnv4_layout import split_dcnv4_offset_mask

    size: dict[str, tuple[int, int]] = {}

    def before(_: nn.Module, args: tuple, kwargs: dict) -> None:
        size["hw"] = _token_shape(args, kwargs)

    def on_packed(_: nn.Module, args: tuple, output: Tensor) -> None:
        h, w = size["hw"]
        packed = output.reshape(output.shape[0], h, w, -1)
        offset, mask = split_dcnv4_offset_mask(packed, int(module.group),
                                               _int(module.kernel_size))
        sink(*_converted(module, offset, mask))

    return [module.register_forward_pre_hook(before, with_kwargs=True),
            module.get_submodule("offset_mask").register_forward_hook(on_packed)]


def _output_size(module: nn.Module, size: tuple[int, int]) -> tuple[int, int]:
    kernel, stride, pad, dilation, _, _ = dcnv3_geometry(module)
    return tuple((s + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1  # type: ignore[return-value]
                 for s in size)


def channels_last_sizes(module: nn.Module, args: tuple, kwargs: dict, output: object
                        ) -> tuple[tuple[int, int], tuple[int, int]]:
    """DCNv3: input [N, H, W, C] -> ((H, W), output (Ho, Wo))."""
    tokens = args[0] if args else kwargs["input"]
    size = (int(tokens.shape[1]), int(tokens.shape[2]))
    return size, _output_size(module, size)


def token_sizes(module: nn.Module, args: tuple, kwargs: dict, output: object
                ) -> tuple[tuple[int, int], tuple[int, int]]:
    """DCNv4: input [N, H * W, C] with shape (H, W) -> ((H, W), (Ho, Wo))."""
    size = _token_shape(args, kwargs)
    return size, _output_size(module, size)


def as_dcnv3_record(record: DeformLayerRecord, module: nn.Module) -> DCNv3LayerRecord:
    """The generic record of a DCNv3 / DCNv4 call, with its offset_scale and variant."""
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    return DCNv3LayerRecord(**fields, offset_scale=dcnv3_geometry(module)[5],
                            variant="DCNv4" if is_dcnv4(module) else "DCNv3")
