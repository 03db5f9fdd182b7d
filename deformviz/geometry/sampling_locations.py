"""Sampling locations of one unit through a stack of deformable layers (the paper's Fig. 6).

A unit (oy, ox) of the top layer's output samples 9 points p0 + pn + dpn of its input map
(level 1). That input map is the output map of the layer below, so each of those points is
itself a (fractional) output position of the lower layer, whose 9 taps sample the map below
it (level 2: 81 points), and so on: 9^levels points for 3x3 kernels (K^levels in general).

Decisions, each the most faithful cheap model of what the forward pass does:

- Fractional positions are kept at every level. A lower layer's filter is placed at the
  fractional position p: p0 + pn = p * stride - padding + (i, j) * dilation, and its offsets
  (and mask) are read at p by bilinear interpolation of its offset map, tap k always paired
  with channels 2k / 2k + 1 of the chosen offset group (the MSRA demo rounded p and dropped
  out-of-map taps before pairing, which shuffles offsets at the border).
- Border: offsets and masks are read with the DCNv2 zero-padding rule (see
  `deformviz.geometry.interpolation`), so a filter placed outside the lower map gets offsets
  that fade linearly to 0 across the one-cell band outside it and are exactly 0 beyond:
  its taps fall back to the regular grid there. No point is ever dropped: level l always holds
  K^l points, so parent indices stay simple. Instead every point carries
  `inside` (its own position reads data under the DCNv2 rule: -1 < y < H, -1 < x < W of the
  map it samples) and `active` (it and all its ancestors are inside; a point whose ancestor is
  outside only exists in this geometric model, since the forward pass reads zero padding
  there and never evaluates the lower layer at that position).
- Offset groups: with G > 1 each group has its own offsets and there is no single "right"
  group to follow down the tree (each output channel of a layer mixes all groups of that
  layer). `offset_group` picks one group per layer (default 0 everywhere); call once per group
  to compare them.
- Masks (DCNv2): if given, tap k's mask (channel g*K + k, read bilinearly at p like the
  offsets) multiplies the weight of its parent, so a point's weight is the product of the
  masks along its path from the unit. Without masks all weights are 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .layers import DeformLayerGeometry
from .map_grid import MapGrid
from .traced_locations import SamplingLocations

__all__ = ["SamplingLocations", "trace_sampling_locations"]


def _select_batch(tensor: Tensor, batch_index: int, name: str) -> Tensor:
    if tensor.dim() == 4:
        if not 0 <= batch_index < tensor.shape[0]:
            raise ValueError(f"batch_index {batch_index} is out of range for {name} of shape "
                             f"{tuple(tensor.shape)}")
        return tensor[batch_index]
    return tensor


def _bottom_input_size(layer: DeformLayerGeometry, output_size: tuple[int, int],
                       input_size: tuple[int, int] | None) -> tuple[int, int]:
    if input_size is not None:
        return int(input_size[0]), int(input_size[1])
    if layer.stride != (1, 1):
        # With stride > 1 several input sizes give the same output size.
        raise ValueError("input_size (H, W of the bottom layer's input map) is needed when the "
                         "bottom layer has stride > 1")
    # Stride 1: Hout = H + 2 * pad - dil * (k - 1), so H follows exactly.
    return tuple(  # type: ignore[return-value]
        out - 2 * pad + dil * (kernel - 1)
        for out, pad, dil, kernel in zip(output_size, layer.padding, layer.dilation,
                                         layer.kernel_size)
    )


def _smallest_input_size(layer: DeformLayerGeometry,
                         output_size: tuple[int, int]) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        (out - 1) * stride - 2 * pad + dil * (kernel - 1) + 1
        for out, stride, pad, dil, kernel in zip(output_size, layer.stride, layer.padding,
                                                 layer.dilation, layer.kernel_size))


def trace_sampling_locations(
    layers: Sequence[DeformLayerGeometry],
    offsets: Sequence[Tensor],
    unit: tuple[int, int],
    levels: int | None = None,
    masks: Sequence[Tensor | None] | None = None,
    offset_group: int | Sequence[int] = 0,
    input_size: tuple[int, int] | None = None,
    batch_index: int = 0,
) -> SamplingLocations:
    """Sampling locations of a top-layer unit through `levels` stacked deformable layers.

    See the module docstring for how fractional positions, borders, offset groups and masks
    are treated.

    Args:
        layers: L layer geometries, bottom to top; layer l's output map is layer l + 1's input.
        offsets: L offset maps, bottom to top, each [2 * G_l * K_l, Hout_l, Wout_l] (or with a
            leading batch dimension, see `batch_index`), in input cells of their layer.
        unit: (oy, ox), integer output cell of the TOP layer.
        levels: how many layers to descend, 1..L; default L.
        masks: None, or L entries (bottom to top), each None or [G_l * K_l, Hout_l, Wout_l]
            (already through the sigmoid, as the operator takes it).
        offset_group: the offset group followed in every layer, or one per layer (bottom to
            top).
        input_size: (H, W) of the bottom layer's input map, needed only when the levels reach
            the bottom layer and it has stride > 1 (with stride 1 it follows from the offsets).
        batch_index: the image to use when offsets/masks carry a batch dimension.
    Returns:
        SamplingLocations with, per level l, [P_l, 2] (y, x) points in feature cells of the
        map that level samples.
    Raises:
        ValueError: on mismatched lengths, shapes, groups or an out-of-range unit.

    Example:
        >>> layers = [DeformLayerGeometry.paper_res5()] * 3
        >>> offsets = [torch.zeros(18, 20, 20)] * 3
        >>> result = trace_sampling_locations(layers, offsets, unit=(10, 10))
        >>> [p.shape[0] for p in result.points]
        [9, 81, 729]
    """
    num_layers = len(layers)
    if num_layers == 0 or len(offsets) != num_layers:
        raise ValueError(f"need one offset map per layer, got {num_layers} layers and "
                         f"{len(offsets)} offset maps")
    levels = num_layers if levels is None else levels
    if not 1 <= levels <= num_layers:
        raise ValueError(f"levels must be in 1..{num_layers}, got {levels}")
    if masks is not None and len(masks) != num_layers:
        raise ValueError(f"masks must have one entry (or None) per layer, got {len(masks)}")

    maps: list[Tensor] = []
    for index, (layer, offset) in enumerate(zip(layers, offsets)):
        layer.check_offset(offset, f"offsets[{index}]")
        maps.append(_select_batch(offset, batch_index, f"offsets[{index}]"))
    output_sizes = [(int(m.shape[-2]), int(m.shape[-1])) for m in maps]

    # Directly stacked layers are a chain whose maps all share one grid: no rigid steps.
    from .chain import ChainLayer, trace_chain  # chain builds on SamplingLocations (above)

    grid = MapGrid.image()
    chain = []
    for index, layer in enumerate(layers):
        if index > 0:
            map_size = output_sizes[index - 1]
        elif levels == num_layers:
            map_size = _bottom_input_size(layer, output_sizes[0], input_size)
        else:  # never sampled: any size consistent with the output will do
            map_size = _smallest_input_size(layer, output_sizes[0])
        if layer.output_size(map_size) != output_sizes[index]:
            raise ValueError(
                f"layer {index} maps a {map_size[0]}x{map_size[1]} input to "
                f"{layer.output_size(map_size)}, but its offsets are "
                f"{output_sizes[index][0]}x{output_sizes[index][1]}; are layers and offsets "
                "ordered bottom to top?")
        mask = None if masks is None else masks[index]
        if mask is not None:
            layer.check_mask(mask, offsets[index], f"masks[{index}]")
            mask = _select_batch(mask, batch_index, f"masks[{index}]")
        chain.append(ChainLayer(layer, maps[index], mask, map_size, grid, grid))
    return trace_chain(chain, unit, levels, offset_group)
