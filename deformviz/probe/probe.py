"""`probe`: one forward pass of an unmodified module, recording what its deformable layers did.

Standard forward hooks only, always removed, also when the forward pass fails:

- on every deformable layer (found by `deformviz.probe.adapters`): the offsets and mask it used
  (from its adapter's source), its input and output map sizes;
- and, for the length of the call, a torch function mode that notes every conv, pooling and
  padding call (sizes, kernel, stride, padding, dilation), from which `deformviz.probe.grids`
  derives where each map's cells sit on the model input.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from deformviz.errors import DeformvizError
from deformviz.geometry import MapGrid

from .adapters import LayerAdapter, LayerSpec, find_adapter
from .grids import ConvArithmetic, derive_grids, fallback_grid, record_conv_arithmetic
from .records import DeformLayerRecord, ProbeResult

__all__ = ["probe", "deformable_layers", "ProbeError"]


class ProbeError(DeformvizError, RuntimeError):
    """A deformable layer ran but did not report offsets the probe can use (an adapter that
    does not fit the layer)."""


def deformable_layers(module: nn.Module, adapters: Sequence[LayerAdapter] = ()
                      ) -> list[tuple[str, nn.Module, LayerAdapter]]:
    """(qualified name, module, adapter) of every deformable layer, in registration order. The
    inside of a recognised layer is not searched (its offset conv is part of it)."""
    found: list[tuple[str, nn.Module, LayerAdapter]] = []
    for name, child in module.named_modules():
        if any(name.startswith(outer + ".") or outer == "" for outer, _, _ in found):
            continue
        adapter = find_adapter(child, adapters)
        if adapter is not None:
            found.append((name, child, adapter))
    return found


def _size(tensor: object) -> tuple[int, int]:
    if not isinstance(tensor, Tensor) or tensor.dim() < 2:
        raise ProbeError(f"expected a feature map tensor, got {type(tensor).__name__}")
    return int(tensor.shape[-2]), int(tensor.shape[-1])


def _first_tensor(args: tuple, kwargs: dict) -> Tensor:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Tensor):
            return value
    raise ProbeError("a probed layer was called without a tensor input")


@dataclass
class _Recorder:
    """The hooks' shared state during one forward pass."""

    pending: dict[int, tuple[Tensor, Tensor | None]] = field(default_factory=dict)
    records: list[DeformLayerRecord] = field(default_factory=list)  # grids set after the pass
    runs: list[ConvArithmetic] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _attach(layers: list[tuple[str, nn.Module, LayerAdapter]], recorder: _Recorder,
            handles: list[RemovableHandle]) -> None:
    """Hooks on every layer, appended to `handles` as they are made (so a failure half way
    leaves nothing behind once the caller removes them)."""
    for name, layer, adapter in layers:
        def sink(offset: Tensor, mask: Tensor | None, key: int = id(layer)) -> None:
            recorder.pending[key] = (offset.detach(), None if mask is None else mask.detach())

        def after(layer: nn.Module, args: tuple, kwargs: dict, output: object,
                  name: str = name, adapter: LayerAdapter = adapter) -> None:
            if id(layer) not in recorder.pending:
                raise ProbeError(f"deformable layer {name} ({adapter.kind}) ran without "
                                 "reporting its offsets")
            offset, mask = recorder.pending.pop(id(layer))
            count = recorder.counts[name] = recorder.counts.get(name, 0) + 1
            spec = adapter.spec(layer)
            if adapter.map_sizes is not None:  # channels-last or token layouts
                input_size, output_size = adapter.map_sizes(layer, args, kwargs, output)
            else:
                input_size, output_size = _size(_first_tensor(args, kwargs)), _size(output)
            record = _record(f"{name}#{count}" if count > 1 else name, adapter, spec,
                             input_size, output_size, offset, mask)
            if adapter.refine is not None:  # the kind's own record subclass
                record = adapter.refine(record, layer)
            recorder.records.append(record)
            g = record.geometry
            recorder.runs.append(ConvArithmetic(record.input_size, record.output_size,
                                                g.kernel_size, g.stride, g.padding, g.dilation))

        handles += adapter.source(layer, sink)
        handles.append(layer.register_forward_hook(after, with_kwargs=True))


def _on_cpu(tensor: Tensor) -> Tensor:
    """float64 stays float64; half precision becomes float32 (as it was computed, widened)."""
    dtype = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    return tensor.to(device="cpu", dtype=dtype)


def _record(name: str, adapter: LayerAdapter, spec: LayerSpec, input_size: tuple[int, int],
            output_size: tuple[int, int], offset: Tensor, mask: Tensor | None) -> DeformLayerRecord:
    """One call as its record, checked; its grids (known only after the pass) are the model
    input's until `_placed` sets them."""
    try:
        geometry = spec.geometry(int(offset.shape[1]) if offset.dim() > 1 else 0)
    except ValueError as error:
        raise ProbeError(f"{name}: {error}") from None
    if offset.dim() != 4 or int(offset.shape[1]) != geometry.offset_channels or \
            _size(offset) != output_size:
        raise ProbeError(f"{name}: offset of shape {tuple(offset.shape)} does not "
                         f"fit the layer ({geometry.offset_channels} channels, output "
                         f"{output_size[0]}x{output_size[1]})")
    modulated = spec.modulated if spec.modulated is not None else mask is not None
    if modulated and mask is None:
        raise ProbeError(f"{name}: a modulated layer ran without a mask")
    if mask is not None:
        geometry.check_mask(mask, offset, f"{name} mask")
    image = MapGrid.image()
    return DeformLayerRecord(
        name=name, kind=adapter.kind, geometry=geometry, modulated=modulated,
        weight_groups=spec.weight_groups, offset=_on_cpu(offset),
        mask=None if mask is None else _on_cpu(mask), input_size=input_size,
        output_size=output_size, input_grid=image, output_grid=image)


def _placed(record: DeformLayerRecord, grids: dict[tuple[int, int], MapGrid],
            input_size: tuple[int, int], notes: list[str]) -> DeformLayerRecord:
    """`record` with the grids of its maps, from the pass's conv arithmetic."""
    input_grid = grids.get(record.input_size)
    if input_grid is None:
        input_grid = fallback_grid(record.input_size, input_size)
        notes.append(f"{record.name}: no conv arithmetic leads to its {record.input_size[0]}x"
                     f"{record.input_size[1]} input; assumed an evenly spread grid "
                     f"({input_grid.describe()})")
    g = record.geometry
    output_grid = input_grid.after(g.kernel_size, g.stride, g.padding, g.dilation)
    return dataclasses.replace(record, input_grid=input_grid, output_grid=output_grid)


@torch.no_grad()
def probe(module: nn.Module, image: Tensor, *, adapters: Sequence[LayerAdapter] = (),
          grid_overrides: Mapping[tuple[int, int], MapGrid] | None = None,
          aliases: Mapping[str, str] | None = None, keep_outputs: bool = False) -> ProbeResult:
    """Run `module(image)` once and record every deformable layer it ran.

    The module is not changed: hooks are attached for the call and removed afterwards, also
    when it raises. Put it in eval mode first (a training-mode forward pass updates batch-norm
    statistics; the probe warns).

    Args:
        module: any nn.Module whose forward takes the image tensor.
        image: [B, C, H, W] model input (moved to the module's device).
        adapters: extra layer adapters for this call (before registered and built-in ones).
        grid_overrides: map size (h, w) -> MapGrid the network states (wins over derivation).
        aliases: extra layer names (e.g. "res5a") -> qualified names, kept in the result.
        keep_outputs: keep what the module returned in `ProbeResult.outputs`.
    Returns:
        ProbeResult: one DeformLayerRecord per call, in execution order; offsets and masks are
        CPU tensors [B, ...] (float64 from a float64 network, else float32).
    Raises:
        ProbeError: a deformable layer ran without reporting usable offsets. Anything the
        module's own forward raises is raised unchanged.

    Example:
        >>> from deformviz.ops import DeformConv2dPack
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1),
        ...                     DeformConv2dPack(8, 8, 3, padding=2, dilation=2)).eval()
        >>> result = probe(net, torch.rand(1, 3, 64, 64))
        >>> [(r.name, r.kind, tuple(r.offset.shape)) for r in result.layers]
        [('1', 'deformviz', (1, 18, 32, 32))]
        >>> result.layers[0].input_grid
        MapGrid(stride=(2.0, 2.0), origin=(0.0, 0.0))
    """
    if not isinstance(image, Tensor) or image.dim() != 4:
        raise ValueError(f"probe takes an image tensor [B, C, H, W], got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if module.training:
        warnings.warn("probing a module in training mode: call .eval() first so batch-norm "
                      "statistics stay as they are", stacklevel=2)
    parameter = next(module.parameters(), None)
    if parameter is not None:
        image = image.to(parameter.device)
    layers = deformable_layers(module, adapters)
    recorder = _Recorder()
    handles: list[RemovableHandle] = []
    try:
        _attach(layers, recorder, handles)
        with record_conv_arithmetic(recorder.runs):
            outputs = module(image)
    finally:
        for handle in handles:
            handle.remove()
    input_size = _size(image)
    grids = derive_grids(input_size, recorder.runs, grid_overrides)
    notes: list[str] = []
    records = tuple(_placed(record, grids, input_size, notes) for record in recorder.records)
    return ProbeResult(records, input_size, outputs if keep_outputs else None,
                       dict(aliases or {}), tuple(notes))
