"""What the statistics need of a chain of deformable layers, and tracing ALL its units at once.

`ChainLayer` holds one layer's captured offsets with where its input and output maps sit on
the model input. It has the fields of `deformviz.probe.DeformLayerRecord` that matter here
(name, geometry, offset, mask, input_size, output_size, input_grid, output_grid), so probe
records can be used as they are (`as_chain_layer`).

`trace_deepest_points` is the paper's stacked-layer view (`deformviz.geometry.trace_sampling_locations`,
same rules: fractional positions kept, offsets read bilinearly with the DCNv2 border rule, offset
group 0 followed) vectorised over every unit of the top layer, in chunks so memory stays
bounded. Between a lower layer l and the layer above it, a position p in the upper layer's INPUT
cells is carried to l's OUTPUT cells through the grids:
q = (p * S_in(upper) + O_in(upper) - O_out(l)) / S_out(l).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from deformviz.geometry import DeformLayerGeometry, layer_effective_dilation, read_bilinear

__all__ = ["Grid", "ChainLayer", "as_chain_layer", "unit_centres", "trace_deepest_points",
           "layer_dilation"]


@dataclass(frozen=True)
class Grid:
    """Cell p of a map is centred at model-input pixel p * stride + origin (index coordinates).

    Attributes:
        stride: (sy, sx) model-input pixels per cell.
        origin: (oy, ox) model-input pixel of cell 0's centre.
    """

    stride: tuple[float, float]
    origin: tuple[float, float]

    @classmethod
    def of(cls, grid: Any) -> Grid:
        """From anything with `stride` and `origin` (numbers or pairs): FeatureGrid, MapGrid."""
        def pair(value: Any) -> tuple[float, float]:
            if isinstance(value, (int, float)):
                return float(value), float(value)
            return float(value[0]), float(value[1])
        return cls(pair(grid.stride), pair(grid.origin))


@dataclass(frozen=True, eq=False)
class ChainLayer:
    """One deformable layer of one image.

    Attributes:
        name: the layer's name (e.g. res5a, or a module path).
        geometry: kernel, stride, padding, dilation, offset groups.
        offset: [2 * G * K, Hout, Wout] offsets in input cells of the layer.
        mask: [G * K, Hout, Wout] DCNv2 mask, or None.
        input_size: (H, W) cells of its input map.
        output_size: (Hout, Wout) cells of its output map.
        input_grid, output_grid: where those maps' cells sit on the model input.
    """

    name: str
    geometry: DeformLayerGeometry
    offset: Tensor
    mask: Tensor | None
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    input_grid: Grid
    output_grid: Grid


def as_chain_layer(record: Any, batch_index: int = 0) -> ChainLayer:
    """A ChainLayer from a probe record (or anything with the same fields); batched offsets
    [B, 2GK, H, W] give image `batch_index`."""
    offset, mask = record.offset, record.mask
    if offset.dim() == 4:
        offset = offset[batch_index]
        mask = None if mask is None else mask[batch_index]
    return ChainLayer(str(record.name), record.geometry, offset, mask,
                      tuple(record.input_size), tuple(record.output_size),  # type: ignore[arg-type]
                      Grid.of(record.input_grid), Grid.of(record.output_grid))


def _cells(size: tuple[int, int], device: torch.device, dtype: torch.dtype) -> Tensor:
    rows = torch.arange(size[0], device=device, dtype=dtype)
    cols = torch.arange(size[1], device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)


def unit_centres(layer: ChainLayer, resize: tuple[float, float] = (1.0, 1.0)) -> Tensor:
    """Centres of all output units of `layer`, row-major, in ORIGINAL-image pixels.

    Args:
        resize: (ry, rx) original pixels per model-input pixel.
    Returns:
        [Hout * Wout, 2] float64 (y, x), index coordinates (pixel i's centre at i).
    """
    cells = _cells(layer.output_size, torch.device("cpu"), torch.float64)
    grid = layer.output_grid
    model_input = cells * torch.tensor(grid.stride, dtype=torch.float64) + torch.tensor(grid.origin, dtype=torch.float64)
    return (model_input + 0.5) * torch.tensor(resize, dtype=torch.float64) - 0.5


def layer_dilation(layer: ChainLayer) -> Tensor:
    """Effective dilation of every output unit, row-major: [Hout * Wout] in input cells.

    With several offset groups, the mean over groups of each group's effective dilation."""
    return layer_effective_dilation(layer.offset, layer.geometry, offset_group=None).reshape(-1)


def _carry(points: Tensor, upper: ChainLayer, lower: ChainLayer) -> Tensor:
    """Points in `upper`'s input cells -> `lower`'s output cells (the module doc's formula)."""
    s_in = points.new_tensor(upper.input_grid.stride)
    o_in = points.new_tensor(upper.input_grid.origin)
    s_out = points.new_tensor(lower.output_grid.stride)
    o_out = points.new_tensor(lower.output_grid.origin)
    return (points * s_in + o_in - o_out) / s_out


def trace_deepest_points(chain: Sequence[ChainLayer], units: Tensor, levels: int | None = None,
                         rigid: bool = False, chunk: int = 256) -> Tensor:
    """The deepest-level sampling points of many top-layer units, in MODEL-INPUT pixels.

    Args:
        chain: layers bottom to top; the units are output cells of the last one.
        units: [U, 2] (y, x) integer output cells of the top layer.
        levels: layers to descend from the top (default all); P = product of their taps.
        rigid: ignore the offsets (the zero-offset filter of the same layers).
        chunk: units traced at a time (memory: about chunk * P * 16 bytes per step).
    Returns:
        [U, P, 2] float (y, x) model-input pixels (index coordinates), parent-major tap order.
    """
    levels = len(chain) if levels is None else levels
    if not 1 <= levels <= len(chain):
        raise ValueError(f"levels must be in 1..{len(chain)}, got {levels}")
    used = list(chain)[len(chain) - levels:]
    device = used[-1].offset.device
    dtype = torch.promote_types(used[-1].offset.dtype, torch.float32)
    points_per_unit = 1
    for layer in used:
        points_per_unit *= layer.geometry.taps
    units = units.to(device=device, dtype=dtype).reshape(-1, 2)
    result = torch.empty(len(units), points_per_unit, 2, dtype=dtype, device=device)
    # Group 0 of each layer as [2K, H, W]: the trace follows one offset group (see module doc).
    group_offsets = [layer.offset[: 2 * layer.geometry.taps].to(device=device, dtype=dtype) for layer in used]
    for start in range(0, len(units), chunk):
        position = units[start:start + chunk]
        for depth in range(levels - 1, -1, -1):
            layer = used[depth]
            points = layer.geometry.regular_locations(position)  # [N, K, 2] input cells
            if not rigid:
                taps = layer.geometry.taps
                points = points + read_bilinear(group_offsets[depth], position).reshape(-1, taps, 2)
            points = points.reshape(-1, 2)
            if depth > 0:
                position = _carry(points, layer, used[depth - 1])
        bottom = used[0].input_grid
        pixels = points * points.new_tensor(bottom.stride) + points.new_tensor(bottom.origin)
        result[start:start + chunk] = pixels.reshape(-1, points_per_unit, 2)
    return result
