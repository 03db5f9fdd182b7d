"""`probe_attention`: one forward pass of an unmodified module, recording every multi-scale
deformable attention call (reference points, sampling locations, attention weights, levels).

Hooks on the attention modules and, for libraries whose sampling core is a plain function,
a recording wrapper put in that function's place for the length of the call; all of it is
removed afterwards, also when the forward pass raises. The conv arithmetic of the pass is
noted as for `probe` (`deformviz.probe.grids`), so every level's cells are placed on the model
input by the network's own strides and paddings.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from deformviz.geometry import MapGrid

from .attention_adapters import (AttentionAdapter, CoreCall, attach_attention,
                                 find_attention_adapter, read_tensor)
from .attention_records import AttentionProbeResult, AttentionRecord
from .grids import derive_grids, fallback_grid, record_conv_arithmetic
from .probe import ProbeError

__all__ = ["probe_attention", "attention_layers"]


def attention_layers(module: nn.Module, adapters: Sequence[AttentionAdapter] = ()
                     ) -> list[tuple[str, nn.Module, AttentionAdapter]]:
    """(qualified name, module, adapter) of every recognised attention module (the inside of
    a recognised module is not searched)."""
    found: list[tuple[str, nn.Module, AttentionAdapter]] = []
    for name, child in module.named_modules():
        if any(outer == "" or name.startswith(outer + ".") for outer, _, _ in found):
            continue
        adapter = find_attention_adapter(child, adapters)
        if adapter is not None:
            found.append((name, child, adapter))
    return found


@dataclass
class _Frame:
    """One attention call in progress: its arguments, then what its core received."""

    name: str
    adapter: AttentionAdapter
    reference: Tensor | None
    mask: Tensor | None
    core: tuple[CoreCall, tuple, dict] | None = None


@dataclass
class _Recorder:
    names: dict[int, str]
    open: dict[int, _Frame] = field(default_factory=dict)
    done: list[_Frame] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def before(self, module: nn.Module, adapter: AttentionAdapter, args: tuple,
               kwargs: dict) -> None:
        name = self.names[id(module)]
        count = self.counts[name] = self.counts.get(name, 0) + 1
        self.open[id(module)] = _Frame(name if count == 1 else f"{name}#{count}", adapter,
                                       read_tensor(adapter.reference, args, kwargs),
                                       read_tensor(adapter.padding_mask, args, kwargs))

    def on_core(self, module: nn.Module, call: CoreCall, args: tuple, kwargs: dict) -> None:
        frame = self.open.get(id(module))
        if frame is not None:
            frame.core = (call, args, kwargs)

    def after(self, module: nn.Module) -> None:
        frame = self.open.pop(id(module))
        if frame.core is None:
            raise ProbeError(f"attention {frame.name} ({frame.adapter.kind}) ran without "
                             "calling a sampling core the probe knows")
        self.done.append(frame)


def _detached(tensor: Tensor) -> Tensor:
    """On the CPU; float64 stays float64, other floats become float32."""
    dtype = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    return tensor.detach().to(device="cpu", dtype=dtype)


def _shapes(value: object, name: str) -> tuple[tuple[int, int], ...]:
    try:
        rows = value.tolist() if isinstance(value, Tensor) else list(value)  # type: ignore
        return tuple((int(h), int(w)) for h, w in rows)
    except (TypeError, ValueError) as error:
        raise ProbeError(f"{name}: unreadable spatial shapes {value!r}") from error


def _argument(args: tuple, position: int, name: str, what: str) -> object:
    if len(args) <= position:
        raise ProbeError(f"{name}: its sampling core was called without {what} "
                         f"(argument {position})")
    return args[position]


def _levels_split(locations: Tensor, weights: Tensor, points: object, levels: int,
                  name: str) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """[B, Q, M, sum K_l, 2] and [B, Q, M, sum K_l] (levels flattened) -> [..., L, max K, ...]
    and the K_l. Levels with fewer points (D-FINE's [3, 6, 3]) are padded at the end with
    NaN locations and zero weights: no sum changes, and no padded point can pass for a real
    one."""
    counts = tuple(int(k) for k in points)  # type: ignore[union-attr]
    if len(counts) != levels or sum(counts) != locations.shape[3] or min(counts) < 1:
        raise ProbeError(f"{name}: points per level {list(counts)} do not fit "
                         f"{levels} levels and {locations.shape[3]} points")
    shape, most = locations.shape[:3], max(counts)
    if len(set(counts)) == 1:
        return (locations.reshape(*shape, levels, most, 2),
                weights.reshape(*shape, levels, most), counts)
    padded_locations = locations.new_full((*shape, levels, most, 2), float("nan"))
    padded_weights = weights.new_zeros((*shape, levels, most))
    for level, (chunk_locations, chunk_weights) in enumerate(zip(
            locations.split(counts, dim=3), weights.split(counts, dim=3))):
        padded_locations[:, :, :, level, :counts[level]] = chunk_locations
        padded_weights[:, :, :, level, :counts[level]] = chunk_weights
    return padded_locations, padded_weights, counts


def _stage(name: str, queries: int, cells: int) -> tuple[str, int | None, str]:
    """(stage, index, role) from the module name, else from the query count."""
    parts = name.split(".")
    stages = [i for i, part in enumerate(parts) if part in ("encoder", "decoder")]
    if stages:
        stage = parts[stages[-1]]
    else:
        stage = "encoder" if queries == cells else "decoder"
    index = None
    for part in parts[(stages[-1] + 1) if stages else 0:]:
        if re.fullmatch(r"\d+", part):
            index = int(part)
            break
    return stage, index, "self" if stage == "encoder" else "cross"


def _valid_ratios(padding: Tensor | None, shapes: tuple[tuple[int, int], ...],
                  batch: int) -> Tensor:
    """[B, L, 2] (x, y): valid columns of each level's first row and valid rows of its first
    column over the map size, as the libraries compute them from the mask."""
    if padding is None:
        return torch.ones(batch, len(shapes), 2, dtype=torch.float64)
    ratios, start = [], 0
    for height, width in shapes:
        valid = ~padding[:, start:start + height * width].reshape(-1, height, width)
        ratios.append(torch.stack([valid[:, 0, :].sum(-1).double() / width,
                                   valid[:, :, 0].sum(-1).double() / height], -1))
        start += height * width
    return torch.stack(ratios, 1)


def _record(frame: _Frame, grids: dict[tuple[int, int], MapGrid], input_size: tuple[int, int],
            notes: list[str]) -> AttentionRecord:
    call, args, _ = frame.core  # type: ignore[misc]
    name = frame.name
    shapes = _shapes(_argument(args, call.shapes, name, "spatial shapes"), name)
    locations = _argument(args, call.locations, name, "sampling locations")
    weights = _argument(args, call.weights, name, "attention weights")
    if not isinstance(locations, Tensor) or not isinstance(weights, Tensor):
        raise ProbeError(f"{name}: sampling locations / weights are not tensors")
    counts = None
    if call.points_list is not None and locations.dim() == 5:
        locations, weights, counts = _levels_split(
            locations, weights, _argument(args, call.points_list, name, "points per level"),
            len(shapes), name)
    if locations.dim() != 6 or locations.shape[-1] != 2 or locations.shape[3] != len(shapes) \
            or tuple(weights.shape) != tuple(locations.shape[:-1]):
        raise ProbeError(f"{name}: locations {tuple(locations.shape)} and weights "
                         f"{tuple(weights.shape)} do not fit [B, Q, M, L={len(shapes)}, K, 2]")
    if frame.reference is None:
        raise ProbeError(f"{name}: called without reference points")
    batch, cells = int(locations.shape[0]), sum(h * w for h, w in shapes)
    padding = None
    if frame.mask is not None:
        mask = frame.mask.detach().to("cpu").bool().reshape(batch, -1)
        padding = mask if frame.adapter.mask_is_padding else ~mask
        if padding.shape[1] != cells:
            raise ProbeError(f"{name}: padding mask of {padding.shape[1]} cells for "
                             f"{cells} value cells")
    level_grids = []
    for size in shapes:
        grid = grids.get(size)
        if grid is None:
            grid = fallback_grid(size, input_size)
            notes.append(f"{name}: no conv arithmetic leads to its {size[0]}x{size[1]} level; "
                         f"assumed an evenly spread grid ({grid.describe()})")
        level_grids.append(grid)
    stage, index, role = _stage(name.split("#")[0], int(locations.shape[1]), cells)
    return AttentionRecord(
        name=name, kind=frame.adapter.kind, stage=stage, index=index, role=role,
        reference_points=_detached(frame.reference), locations=_detached(locations),
        weights=_detached(weights), spatial_shapes=shapes, padding_mask=padding,
        valid_ratios=_valid_ratios(padding, shapes, batch), level_grids=tuple(level_grids),
        points_per_level=counts or (int(locations.shape[4]),) * len(shapes))


def _image_size(inputs: object) -> tuple[int, int]:
    values = inputs.values() if isinstance(inputs, Mapping) else \
        inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    for value in values:  # type: ignore[union-attr]
        if isinstance(value, Tensor) and value.dim() == 4:
            return int(value.shape[-2]), int(value.shape[-1])
    raise ValueError("probe_attention needs an image tensor [B, C, H, W] among the inputs")


@torch.no_grad()
def probe_attention(module: nn.Module, inputs: Tensor | Mapping[str, object] | Sequence[object],
                    *, adapters: Sequence[AttentionAdapter] = (),
                    grid_overrides: Mapping[tuple[int, int], MapGrid] | None = None,
                    keep_outputs: bool = False) -> AttentionProbeResult:
    """Run the module once and record every multi-scale deformable attention call.

    Args:
        module: any nn.Module (eval mode: a training-mode pass warns).
        inputs: an image tensor [B, C, H, W] (`module(inputs)`), a mapping of keyword
            arguments (`module(**inputs)`, e.g. pixel_values and pixel_mask for Hugging Face
            models) or a sequence of positional ones. The first 4-d tensor is the image.
        adapters: extra attention adapters for this call (before registered and built-in).
        grid_overrides: map size (h, w) -> MapGrid the network states (wins over derivation).
        keep_outputs: keep what the module returned in the result.
    Returns:
        AttentionProbeResult: one AttentionRecord per call, in execution order (CPU tensors;
        float64 from a float64 network, else float32).
    Raises:
        ProbeError: an attention ran without its core reporting usable locations.
        ValueError: no image tensor among the inputs. Anything the module raises, unchanged.
    """
    input_size = _image_size(inputs)
    if module.training:
        warnings.warn("probing a module in training mode: call .eval() first", stacklevel=2)
    layers = attention_layers(module, adapters)
    recorder = _Recorder({id(layer): name for name, layer, _ in layers})
    runs: list = []
    handles: list = []
    try:
        for _, layer, adapter in layers:
            attach_attention(layer, adapter, recorder.on_core, recorder.before, recorder.after,
                             handles)
        with record_conv_arithmetic(runs):
            if isinstance(inputs, Mapping):
                outputs = module(**inputs)
            elif isinstance(inputs, (tuple, list)):
                outputs = module(*inputs)
            else:
                outputs = module(inputs)
    finally:
        for handle in reversed(handles):
            handle.remove()
    grids = derive_grids(input_size, runs, grid_overrides)
    notes: list[str] = []
    records = tuple(_record(frame, grids, input_size, notes) for frame in recorder.done)
    return AttentionProbeResult(records, input_size, outputs if keep_outputs else None,
                                tuple(notes))
