"""A chain's units all at once: where they sit, their effective dilation, their deepest points.

The chain is a sequence of `deformviz.geometry.ChainLayer` (one image's captured offsets of
each layer, with the grids of its input and output maps, bottom to top; a probe record gives
one with `record.chain_layer()`). `deformviz.geometry.trace_chain` follows one unit; the
statistics need every unit of every image, so `trace_deepest_points` runs the same step
(`deformviz.geometry.filter_points`, then `carry_down` between layers; offset group 0
followed) over all units at once, in chunks so memory stays bounded, reading the offsets
through `read_bilinear`'s vectorised kernel. Tests check it against `trace_chain`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from deformviz.geometry import ChainLayer, carry_down, filter_points, layer_effective_dilation
from deformviz.imaging import ImageResize

__all__ = ["unit_centres", "layer_dilation", "trace_deepest_points"]


def unit_centres(layer: ChainLayer, resize: tuple[float, float] = (1.0, 1.0)) -> Tensor:
    """Centres of all output units of `layer`, row-major, in ORIGINAL-image pixels.

    Args:
        resize: (ry, rx) original pixels per model-input pixel.
    Returns:
        [Hout * Wout, 2] float64 (y, x), index coordinates (pixel i's centre at i).
    """
    height, width = layer.output_size
    cells = torch.stack(torch.meshgrid(torch.arange(height, dtype=torch.float64),
                                       torch.arange(width, dtype=torch.float64), indexing="ij"), -1)
    model_input = layer.output_grid.to_pixels(cells.reshape(-1, 2))
    return ImageResize(resize).points_to_original(model_input)


def layer_dilation(layer: ChainLayer) -> Tensor:
    """Effective dilation of every output unit, row-major: [Hout * Wout] in input cells.

    With several offset groups, the mean over groups of each group's effective dilation."""
    return layer_effective_dilation(layer.offset, layer.geometry, offset_group=None).reshape(-1)


def trace_deepest_points(chain: Sequence[ChainLayer], units: Tensor, levels: int | None = None,
                         rigid: bool = False, chunk: int = 256) -> Tensor:
    """The deepest-level sampling points of many top-layer units, in MODEL-INPUT pixels.

    Args:
        chain: layers bottom to top; the units are output cells of the last one.
        units: [U, 2] (y, x) integer output cells of the top layer.
        levels: layers to descend from the top (default all); P = product of their taps.
        rigid: ignore the offsets (the zero-offset filter of the same layers).
        chunk: units traced at a time (memory: about chunk * P * 40 bytes at the last step).
    Returns:
        [U, P, 2] (y, x) model-input pixels (index coordinates), parent-major tap order, the
        dtype of the offsets (at least float32).
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
    # Group 0 of each layer is followed (see the module doc).
    used = [_on(layer, device, dtype) for layer in used]
    for start in range(0, len(units), chunk):
        position = units[start:start + chunk]
        for depth in range(levels - 1, -1, -1):
            layer = used[depth]
            points = filter_points(layer, position, 0, rigid, "grid_sample").reshape(-1, 2)
            if depth > 0:  # this layer's input cells -> the lower layer's output cells
                position = carry_down(points, layer, used[depth - 1])
        pixels = used[0].input_grid.to_pixels(points)
        result[start:start + chunk] = pixels.reshape(-1, points_per_unit, 2)
    return result


def _on(layer: ChainLayer, device: torch.device, dtype: torch.dtype) -> ChainLayer:
    """`layer` with its group-0 offsets on `device` in `dtype` (copied once, not per chunk)."""
    offset = layer.offset[: 2 * layer.geometry.taps].to(device=device, dtype=dtype)
    return dataclasses.replace(layer, offset=offset, mask=None)
