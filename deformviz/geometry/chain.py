"""Sampling points of one unit through a chain of deformable layers of a real network.

The layers of a chain need not feed each other directly: between two deformable layers a
network may change the grid rigidly (a stride-2 1x1 conv in caffe-style ResNets, plain 1x1
convs and residual sums in every ResNet block). Each layer knows the grids of its input and
output maps (`MapGrid`, model-input pixels), so a position p in the INPUT cells of upper layer
u is carried to the OUTPUT cells of the lower layer l below it by

    q = (p * S_in(u) + O_in(u) - O_out(l)) / S_out(l)

(the identity when the grids agree, 2p across a stride-2 1x1). The lower layer's filter is then
placed at the fractional q as in `deformviz.geometry.sampling_locations` (offsets and masks
read bilinearly at q, DCNv2 border rule, one offset group followed per layer).

Points of level l are in the input cells of the l-th layer from the top; `to_image` maps each
level with its own layer's input grid.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .interpolation import inside_map, read_bilinear
from .feature_to_image import FeatureToImage
from .layers import DeformLayerGeometry
from .map_grid import MapGrid
from .traced_locations import SamplingLocations

__all__ = ["ChainLayer", "trace_chain", "filter_points", "carry_down", "chain_mappings",
           "unit_mapping", "grid_mapping"]


@dataclass(frozen=True, eq=False)
class ChainLayer:
    """One deformable layer of a chain, with what it did on one image.

    Attributes:
        geometry: kernel, stride, padding, dilation, offset groups.
        offset: [2 * G * K, Hout, Wout] offsets in input cells, as the operator used them.
        mask: [G * K, Hout, Wout] after the sigmoid, or None (DCNv1).
        input_size: (H, W) cells of the map the layer samples.
        input_grid: where the input map's cells sit on the model input.
        output_grid: where the output map's cells sit on the model input.
    """

    geometry: DeformLayerGeometry
    offset: Tensor
    mask: Tensor | None
    input_size: tuple[int, int]
    input_grid: MapGrid
    output_grid: MapGrid

    @property
    def output_size(self) -> tuple[int, int]:
        return int(self.offset.shape[-2]), int(self.offset.shape[-1])

    def check(self, index: int) -> None:
        """ValueError unless offset, mask and sizes agree with the geometry."""
        self.geometry.check_offset(self.offset, f"chain[{index}].offset")
        if self.offset.dim() != 3:
            raise ValueError(f"chain[{index}].offset must be [2GK, H, W] (one image), got "
                             f"{tuple(self.offset.shape)}")
        if self.mask is not None:
            self.geometry.check_mask(self.mask, self.offset, f"chain[{index}].mask")
        expected = self.geometry.output_size(self.input_size)
        if expected != self.output_size:
            raise ValueError(f"chain[{index}] maps a {self.input_size[0]}x{self.input_size[1]} "
                             f"input to {expected[0]}x{expected[1]}, but its offsets are "
                             f"{self.output_size[0]}x{self.output_size[1]}")


def carry_down(position: Tensor, upper: ChainLayer, lower: ChainLayer) -> Tensor:
    """[..., 2] positions in upper's input cells -> lower's output cells (the rigid step)."""
    pixels = upper.input_grid.to_pixels(position)
    return lower.output_grid.to_cells(pixels)


def filter_points(layer: ChainLayer, position: Tensor, group: int = 0, rigid: bool = False,
                  kernel: str = "gather") -> Tensor:
    """The one step of every chain tracing: `layer`'s filter placed at fractional output
    positions, p0 + pn + dpn with the offsets of `group` read there (DCNv2 border rule).

    Args:
        position: [N, 2] (y, x) output cells of `layer`, fractional, the offsets' dtype.
        group: the offset group whose offsets move the taps.
        rigid: leave the offsets out (the zero-offset filter).
        kernel: `read_bilinear`'s ("grid_sample": the statistics' vectorised path).
    Returns:
        [N, K, 2] (y, x) in `layer`'s input cells, tap k = i * kw + j.
    """
    points = layer.geometry.regular_locations(position)
    if rigid:
        return points
    taps = layer.geometry.taps
    offsets = layer.offset[group * 2 * taps:(group + 1) * 2 * taps].to(position.dtype)
    return points + read_bilinear(offsets, position, kernel).reshape(-1, taps, 2)


def trace_chain(chain: Sequence[ChainLayer], unit: tuple[int, int], levels: int | None = None,
                offset_group: int | Sequence[int] = 0) -> SamplingLocations:
    """Sampling locations of a unit of the top layer through `levels` layers of `chain`.

    Args:
        chain: L layers, bottom to top (the order the network runs them).
        unit: (oy, ox), integer output cell of the TOP layer.
        levels: layers to descend, 1..L; default L. Level l has K_top * ... * K_l points.
        offset_group: the group followed in every layer, or one per layer (bottom to top).
    Returns:
        SamplingLocations; level l's points are (y, x) in input cells of layer L - l
        (`layer_indices`), map them with `chain_mappings`.

    Example:
        >>> layer = DeformLayerGeometry((3, 3), (2, 2), (1, 1), (1, 1))
        >>> bottom = ChainLayer(layer, torch.zeros(18, 8, 8), None, (16, 16),
        ...                     MapGrid(8), MapGrid(16))
        >>> top = ChainLayer(DeformLayerGeometry((3, 3), padding=(1, 1)), torch.zeros(18, 4, 4),
        ...                  None, (4, 4), MapGrid(32), MapGrid(32))  # a stride-2 1x1 between
        >>> traced = trace_chain([bottom, top], (1, 1))
        >>> traced.points[1][:3].tolist()  # under the top's first tap (0, 0) -> cell (0, 0)
        [[-1.0, -1.0], [-1.0, 0.0], [-1.0, 1.0]]
    """
    num_layers = len(chain)
    if num_layers == 0:
        raise ValueError("the chain has no layers")
    levels = num_layers if levels is None else levels
    if not 1 <= levels <= num_layers:
        raise ValueError(f"levels must be in 1..{num_layers}, got {levels}")
    groups = [offset_group] * num_layers if isinstance(offset_group, int) else list(offset_group)
    if len(groups) != num_layers:
        raise ValueError(f"offset_group must be an int or one per layer, got {offset_group!r}")
    for index, layer in enumerate(chain):
        layer.check(index)
        if not 0 <= groups[index] < layer.geometry.offset_groups:
            raise ValueError(f"offset_group {groups[index]} is out of range for layer {index} "
                             f"with {layer.geometry.offset_groups} offset groups")

    top_h, top_w = chain[-1].output_size
    try:
        oy, ox = (operator.index(v) for v in unit)  # ints, numpy ints, 0-d integer tensors
    except (TypeError, ValueError):
        raise ValueError(f"unit must be a pair of ints, got {unit!r}") from None
    if not (0 <= oy < top_h and 0 <= ox < top_w):
        raise ValueError(f"unit {unit!r} is outside the top output map {top_h}x{top_w}")

    dtype = torch.float32
    for layer in chain:
        dtype = torch.promote_types(dtype, layer.offset.dtype)
    device = chain[-1].offset.device
    position = torch.tensor([[float(oy), float(ox)]], dtype=dtype, device=device)
    active = torch.ones(1, dtype=torch.bool, device=device)
    weight = torch.ones(1, dtype=dtype, device=device)
    modulated = False
    out: dict[str, list] = {key: [] for key in
                            ("points", "parents", "taps", "inside", "active", "weights")}
    map_sizes: list[tuple[int, int]] = []
    layer_indices: list[int] = []

    for level in range(1, levels + 1):
        index = num_layers - level
        layer = chain[index]
        if level > 1:  # from the upper layer's input cells to this layer's output cells
            position = carry_down(position, chain[index + 1], layer)
        taps, group = layer.geometry.taps, groups[index]
        # Inside a map means reading data there; a rigid step can land outside the lower map.
        points = filter_points(layer, position, group).reshape(-1, 2)

        count = position.shape[0]
        parents = torch.arange(count, device=device).repeat_interleave(taps)
        inside = inside_map(points, layer.input_size)
        active = inside & active[parents]
        if layer.mask is not None:
            group_mask = layer.mask[group * taps:(group + 1) * taps].to(dtype)
            weight = (weight.unsqueeze(-1) * read_bilinear(group_mask, position)).reshape(-1)
            modulated = True
        else:
            weight = weight.repeat_interleave(taps)

        for key, value in (("points", points), ("parents", parents),
                           ("taps", torch.arange(taps, device=device).repeat(count)),
                           ("inside", inside), ("active", active), ("weights", weight)):
            out[key].append(value)
        map_sizes.append(layer.input_size)
        layer_indices.append(index)
        position = points

    return SamplingLocations(
        unit=torch.tensor([float(oy), float(ox)], dtype=dtype, device=device),
        points=tuple(out["points"]), parents=tuple(out["parents"]), taps=tuple(out["taps"]),
        inside=tuple(out["inside"]), active=tuple(out["active"]), weights=tuple(out["weights"]),
        map_sizes=tuple(map_sizes), layer_indices=tuple(layer_indices), modulated=modulated,
    )


def chain_mappings(chain: Sequence[ChainLayer], traced: SamplingLocations,
                   resized_size: tuple[int, int] | None = None,
                   original_size: tuple[int, int] | None = None) -> list[FeatureToImage]:
    """One cells -> original-pixels mapping per traced level (its layer's input grid, then the
    resize from `original_size` to `resized_size`, both (h, w) or neither); pass the result to
    `traced.to_image`."""
    return [grid_mapping(chain[index].input_grid, resized_size, original_size)
            for index in traced.layer_indices]


def unit_mapping(chain: Sequence[ChainLayer], resized_size: tuple[int, int] | None = None,
                 original_size: tuple[int, int] | None = None) -> FeatureToImage:
    """The top layer's OUTPUT cells -> original pixels (where the unit itself sits)."""
    return grid_mapping(chain[-1].output_grid, resized_size, original_size)


def grid_mapping(grid: MapGrid, resized_size: tuple[int, int] | None = None,
                 original_size: tuple[int, int] | None = None) -> FeatureToImage:
    """A map's cells -> original pixels: `FeatureToImage.from_grid` (its grid, then the resize
    from `original_size` to `resized_size`, both or neither)."""
    return FeatureToImage.from_grid(grid, resized_size, original_size)
