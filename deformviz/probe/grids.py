"""Map grids from the network's own conv arithmetic, recorded during the probed forward pass.

While the probed forward pass runs, `record_conv_arithmetic` watches every convolution,
pooling and padding call (`F.conv2d`, `F.max_pool2d`, `F.avg_pool2d`, `F.pad`; nn.Conv2d,
nn.MaxPool2d and nn.AvgPool2d go through them, and so do functional calls in a forward) and
notes its input and output map sizes and its kernel, stride, padding and dilation. The
deformable layers add their own. Afterwards `derive_grids` starts from the model input
(stride 1, origin 0) and pushes grids through those runs in execution order
(`MapGrid.after`; an explicit pad of `top` rows moves the origin by -top cells). Maps are keyed
by their spatial size: the first derivation of a size wins, and grids a network states itself
(`overrides`) win over derived ones. A resize (`F.interpolate`) breaks the derivation: maps
after it get `fallback_grid`, and the probe says so in `ProbeResult.notes`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from deformviz.geometry import MapGrid

__all__ = ["ConvArithmetic", "record_conv_arithmetic", "derive_grids", "fallback_grid"]

Size = tuple[int, int]


def _pair(value: object) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    pair = tuple(int(v) for v in value)  # type: ignore[union-attr]
    return (pair[0], pair[0]) if len(pair) == 1 else pair  # type: ignore[return-value]


@dataclass(frozen=True)
class ConvArithmetic:
    """One run of a layer with conv arithmetic: map sizes (cells) and (h, w) parameters."""

    input_size: Size
    output_size: Size
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


def _argument(args: tuple, kwargs: dict, position: int, name: str, default: object) -> object:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def _parameters(func: object, args: tuple, kwargs: dict) -> tuple[tuple[int, int], ...] | None:
    """(kernel, stride, padding, dilation) of a conv / pool / pad call, else None."""
    if func is F.conv2d:
        weight = _argument(args, kwargs, 1, "weight", None)
        kernel = tuple(int(v) for v in weight.shape[-2:])  # type: ignore[union-attr]
        dilation = _pair(_argument(args, kwargs, 5, "dilation", 1))
        padding = _argument(args, kwargs, 4, "padding", 0)
        if padding == "valid":
            padding = 0
        elif padding == "same":  # torch puts the odd pixel of the total padding at the end
            padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        return (kernel, _pair(_argument(args, kwargs, 3, "stride", 1)), _pair(padding),  # type: ignore[return-value]
                dilation)
    if func in (F.max_pool2d, F.avg_pool2d):
        kernel = _pair(_argument(args, kwargs, 1, "kernel_size", 1))
        stride = _argument(args, kwargs, 2, "stride", None)
        stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
        dilation = _pair(_argument(args, kwargs, 4, "dilation", 1)) if func is F.max_pool2d \
            else (1, 1)
        return kernel, stride, _pair(_argument(args, kwargs, 3, "padding", 0)), dilation
    if func is F.pad:
        pad = list(_argument(args, kwargs, 1, "pad", ()))  # (left, right, top, bottom, ...)
        left, top = (pad + [0, 0, 0, 0])[0], (pad + [0, 0, 0, 0])[2]
        return (1, 1), (1, 1), (int(top), int(left)), (1, 1)
    return None


class _ArithmeticMode(TorchFunctionMode):
    """Notes every conv / pool / pad call on 4-d maps while active."""

    def __init__(self, runs: list[ConvArithmetic]) -> None:
        super().__init__()
        self.runs = runs

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func in _WATCHED:
            first = args[0] if args else kwargs.get("input")
            output = result[0] if isinstance(result, tuple) else result
            if isinstance(first, Tensor) and isinstance(output, Tensor) and \
                    first.dim() == 4 and output.dim() == 4:
                parameters = _parameters(func, args, kwargs)
                if parameters is not None:
                    self.runs.append(ConvArithmetic(
                        (int(first.shape[-2]), int(first.shape[-1])),
                        (int(output.shape[-2]), int(output.shape[-1])), *parameters))
        return result


_WATCHED = (F.conv2d, F.max_pool2d, F.avg_pool2d, F.pad)


@contextmanager
def record_conv_arithmetic(runs: list[ConvArithmetic]) -> Iterator[list[ConvArithmetic]]:
    """Within the block, append a ConvArithmetic to `runs` for every conv / pool / pad call."""
    with _ArithmeticMode(runs):
        yield runs


def derive_grids(input_size: Size, runs: Sequence[ConvArithmetic],
                 overrides: Mapping[Size, MapGrid] | None = None) -> dict[Size, MapGrid]:
    """Every map size reachable from the model input -> its grid (model-input pixels).

    Args:
        input_size: (H, W) of the model input (its grid: stride 1, origin 0).
        runs: the layers with conv arithmetic in execution order.
        overrides: grids the network states for some map sizes; they win.
    """
    grids: dict[Size, MapGrid] = dict(overrides or {})
    grids.setdefault(tuple(input_size), MapGrid.image())  # type: ignore[arg-type]
    changed = True
    while changed:  # one pass suffices in execution order; more only for odd hook orders
        changed = False
        for run in runs:
            if run.input_size in grids and run.output_size not in grids:
                grids[run.output_size] = grids[run.input_size].after(
                    run.kernel, run.stride, run.padding, run.dilation)
                changed = True
    return grids


def fallback_grid(map_size: Size, input_size: Size) -> MapGrid:
    """For a map no conv arithmetic leads to: cells evenly spread over the model input, each
    centred on the block it covers (stride = input / map per axis, origin = (stride - 1) / 2)."""
    stride = tuple(i / m for i, m in zip(input_size, map_size))
    return MapGrid(stride, tuple((s - 1) / 2 for s in stride))  # type: ignore[arg-type]
