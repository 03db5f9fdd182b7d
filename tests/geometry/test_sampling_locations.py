"""trace_sampling_locations: known grids, constant and linear offsets, the tree structure,
borders, groups, masks, and agreement with stacked deformable convolutions."""

from __future__ import annotations

import math

import pytest
import torch

from deformviz.geometry import (DeformLayerGeometry, FeatureToImage, SamplingLocations,
                                trace_sampling_locations)
from deformviz.ops import deform_conv2d

RES5 = DeformLayerGeometry.paper_res5()


def constant_offsets(layer: DeformLayerGeometry, size: tuple[int, int], dy: float, dx: float,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    offset = torch.empty(layer.offset_groups * layer.taps, 2, *size, dtype=dtype)
    offset[:, 0], offset[:, 1] = dy, dx
    return offset.reshape(layer.offset_channels, *size)


def slow_reference(layers: list[DeformLayerGeometry], offsets: list[torch.Tensor],
                   unit: tuple[int, int], levels: int) -> list[torch.Tensor]:
    """Loop-by-loop version of the tree with a scalar bilinear read (group 0, no masks)."""

    def read(offset: torch.Tensor, channel: int, y: float, x: float) -> float:
        height, width = offset.shape[-2:]
        if not (-1 < y < height and -1 < x < width):
            return 0.0
        y0, x0 = math.floor(y), math.floor(x)
        total = 0.0
        for yy in (y0, y0 + 1):
            for xx in (x0, x0 + 1):
                if 0 <= yy < height and 0 <= xx < width:
                    total += (1 - abs(y - yy)) * (1 - abs(x - xx)) * float(offset[channel, yy, xx])
        return total

    positions, result = [tuple(map(float, unit))], []
    for level in range(1, levels + 1):
        layer, offset = layers[-level], offsets[-level]
        kh, kw = layer.kernel_size
        points = []
        for y, x in positions:
            for i in range(kh):
                for j in range(kw):
                    k = i * kw + j
                    points.append((y * layer.stride[0] - layer.padding[0] + i * layer.dilation[0]
                                   + read(offset, 2 * k, y, x),
                                   x * layer.stride[1] - layer.padding[1] + j * layer.dilation[1]
                                   + read(offset, 2 * k + 1, y, x)))
        result.append(torch.tensor(points, dtype=torch.float64))
        positions = points
    return result


def test_zero_offsets_give_the_dilated_grid_in_pixels() -> None:
    offsets = [torch.zeros(18, 12, 14)]
    result = trace_sampling_locations([RES5], offsets, unit=(5, 7))
    expected = torch.tensor([[y, x] for y in (3.0, 5.0, 7.0) for x in (5.0, 7.0, 9.0)])
    assert torch.equal(result.points[0], expected)
    pixels = result.to_image(FeatureToImage(16))[0]
    assert torch.equal(pixels, (expected + 0.5) * 16 - 0.5)
    assert pixels[0].tolist() == [55.5, 87.5] and pixels[-1].tolist() == [119.5, 151.5]
    assert result.unit_to_image(FeatureToImage(16)).tolist() == [87.5, 119.5]


def test_counts_parents_and_taps_of_three_levels() -> None:
    layers, size = [RES5] * 3, (20, 20)
    result = trace_sampling_locations(layers, [torch.zeros(18, *size)] * 3, unit=(10, 10))
    assert result.levels == 3 and result.layer_indices == (2, 1, 0)
    assert [p.shape for p in result.points] == [(9, 2), (81, 2), (729, 2)]
    assert result.parents[0].tolist() == [0] * 9
    assert torch.equal(result.parents[1], torch.arange(9).repeat_interleave(9))
    assert torch.equal(result.parents[2], torch.arange(81).repeat_interleave(9))
    assert torch.equal(result.taps[2], torch.arange(9).repeat(81))
    # Zero offsets: every child is its parent's regular grid.
    for level in (1, 2):
        parents = result.points[level - 1][result.parents[level]]
        grid = RES5.kernel_grid()[result.taps[level]] - 2
        assert torch.equal(result.points[level], parents + grid)
    assert not result.modulated and all(bool(w.eq(1).all()) for w in result.weights)
    assert result.map_sizes == (size, size, size)


def test_constant_offset_accumulates_per_level() -> None:
    dy, dx = 0.3, -0.7
    offsets = [constant_offsets(RES5, (24, 24), dy, dx)] * 3
    shifted = trace_sampling_locations([RES5] * 3, offsets, unit=(12, 12))
    regular = trace_sampling_locations([RES5] * 3, [torch.zeros_like(o) for o in offsets],
                                       unit=(12, 12))
    for level in (1, 2, 3):
        shift = shifted.points[level - 1] - regular.points[level - 1]
        expected = torch.tensor([level * dy, level * dx], dtype=torch.float64).expand_as(shift)
        torch.testing.assert_close(shift, expected)


def test_offsets_are_read_bilinearly_at_fractional_positions() -> None:
    # The top layer moves every tap by (0.5, 0.25), so level-1 tap 0 of unit (4, 4) lands at
    # (2.5, 2.25) in the lower layer's map. The lower layer's tap-0 dy map is 1 everywhere except
    # 10 at (2, 2) and 30 at (3, 3); dx is 0.
    top = constant_offsets(RES5, (8, 8), 0.5, 0.25)
    lower = torch.zeros(18, 8, 8, dtype=torch.float64)
    lower[0] = 1.0
    lower[0, 2, 2], lower[0, 3, 3] = 10.0, 30.0
    result = trace_sampling_locations([RES5, RES5], [lower, top], unit=(4, 4))
    assert result.points[0][0].tolist() == [2.5, 2.25]
    # Neighbours (2,2) w 0.5*0.75, (2,3) w 0.5*0.25, (3,2) w 0.5*0.75, (3,3) w 0.5*0.25.
    dy = 0.375 * 10 + 0.125 * 1 + 0.375 * 1 + 0.125 * 30
    assert result.points[1][0].tolist() == [2.5 - 2 + dy, 2.25 - 2]
    assert result.points[1][1].tolist() == [2.5 - 2, 2.25]  # tap 1 kept its own (zero) offsets


def test_linear_offset_map_is_read_exactly() -> None:
    size = (16, 16)
    y = torch.arange(16, dtype=torch.float64)[:, None].expand(*size)
    x = torch.arange(16, dtype=torch.float64)[None, :].expand(*size)
    lower = torch.stack([0.05 * y - 0.2, 0.1 * x + 0.3] * 9)  # dy = a*y + b, dx = c*x + d
    generator = torch.Generator().manual_seed(0)
    top = (torch.rand(18, *size, generator=generator, dtype=torch.float64) - 0.5) * 1.8
    result = trace_sampling_locations([RES5, RES5], [lower, top], unit=(8, 7))
    parents = result.points[0][result.parents[1]]
    expected = parents - 2 + RES5.kernel_grid(torch.float64)[result.taps[1]]
    expected += torch.stack([0.05 * parents[:, 0] - 0.2, 0.1 * parents[:, 1] + 0.3], dim=-1)
    torch.testing.assert_close(result.points[1], expected)


def test_matches_slow_reference_with_general_strides() -> None:
    # Bottom: stride 2 (input 17x19 -> 9x9); top: stride 1, no padding, dilation 1 (-> 7x7).
    bottom = DeformLayerGeometry(3, stride=2, padding=1, dilation=(1, 2))
    top = DeformLayerGeometry(3, stride=1, padding=0, dilation=1)
    assert bottom.output_size((17, 19)) == (9, 9)
    generator = torch.Generator().manual_seed(2)
    offsets = [torch.randn(18, 9, 9, generator=generator, dtype=torch.float64) * 2,
               torch.randn(18, 7, 7, generator=generator, dtype=torch.float64) * 2]
    result = trace_sampling_locations([bottom, top], offsets, unit=(5, 1), input_size=(17, 19))
    expected = slow_reference([bottom, top], offsets, (5, 1), 2)
    for ours, theirs in zip(result.points, expected):
        torch.testing.assert_close(ours, theirs)
    assert result.map_sizes == ((9, 9), (17, 19))


def test_border_points_are_kept_and_flagged() -> None:
    # Unit (0, 0): level-1 rows/cols are -2, 0, 2; -2 is outside (<= -1).
    lower = constant_offsets(RES5, (6, 6), 1.0, 1.0)
    result = trace_sampling_locations([RES5, RES5], [lower, torch.zeros(18, 6, 6)], unit=(0, 0))
    assert result.points[1].shape == (81, 2)
    level1 = result.points[0]
    assert result.inside[0].tolist() == [bool((p >= 0).all()) for p in level1]
    # The filter placed at (-2, -2) gets zero offsets (beyond the fading band): regular grid.
    assert torch.equal(result.points[1][:9], RES5.kernel_grid(torch.float64) - 4)
    # Its children are inactive even where they land inside the map; so are all its descendants.
    assert bool(result.inside[1][8]) and not bool(result.active[1][:9].any())
    assert torch.equal(result.active[1], result.inside[1] & result.active[0][result.parents[1]])
    # The filter at (0, 0) (level-1 tap 4) reads the full offset (1, 1).
    assert result.points[1][4 * 9].tolist() == [-1.0, -1.0]


def test_offsets_fade_in_the_band_outside_the_map() -> None:
    # The top layer moves tap 0 of unit (0, 0) from (-2, -2) to (-0.5, -2 + 2.75): y = -0.5 is
    # half a cell outside, so the lower layer's offsets count half there.
    top = torch.zeros(18, 6, 6, dtype=torch.float64)
    top[0], top[1] = 1.5, 2.75
    lower = constant_offsets(RES5, (6, 6), 1.0, -1.0)
    result = trace_sampling_locations([RES5, RES5], [lower, top], unit=(0, 0))
    assert result.points[0][0].tolist() == [-0.5, 0.75] and bool(result.inside[0][0])
    assert result.points[1][4].tolist() == [-0.5 + 0.5, 0.75 - 0.5]


def test_offset_group_selection() -> None:
    layer = DeformLayerGeometry.paper_res5(offset_groups=2)
    offset = torch.cat([constant_offsets(RES5, (9, 9), 1.0, 0.0),
                        constant_offsets(RES5, (9, 9), 0.0, -1.0)])
    layers, offsets = [layer, layer], [offset, offset]
    zero = trace_sampling_locations(layers, [torch.zeros_like(offset)] * 2, unit=(4, 4))
    first = trace_sampling_locations(layers, offsets, unit=(4, 4))
    second = trace_sampling_locations(layers, offsets, unit=(4, 4), offset_group=1)
    mixed = trace_sampling_locations(layers, offsets, unit=(4, 4), offset_group=[1, 0])

    def shift(result: SamplingLocations) -> list[list[float]]:
        return (result.points[1] - zero.points[1]).unique(dim=0).tolist()

    assert shift(first) == [[2.0, 0.0]] and shift(second) == [[0.0, -2.0]]
    assert shift(mixed) == [[1.0, -1.0]]  # top layer (index 1) group 0, bottom layer group 1
    with pytest.raises(ValueError, match="offset_group"):
        trace_sampling_locations(layers, offsets, unit=(4, 4), offset_group=2)


def test_mask_weights_multiply_down_the_tree() -> None:
    top_mask = torch.linspace(0.1, 0.9, 9)[:, None, None].expand(9, 10, 10)
    lower_mask = torch.full((9, 10, 10), 0.5)
    offsets = [torch.zeros(18, 10, 10)] * 2
    result = trace_sampling_locations([RES5, RES5], offsets, unit=(5, 5),
                                      masks=[lower_mask, top_mask])
    assert result.modulated
    torch.testing.assert_close(result.weights[0], torch.linspace(0.1, 0.9, 9))
    torch.testing.assert_close(result.weights[1],
                               0.5 * torch.linspace(0.1, 0.9, 9).repeat_interleave(9))
    only_top = trace_sampling_locations([RES5, RES5], offsets, unit=(5, 5), masks=[None, top_mask])
    torch.testing.assert_close(only_top.weights[1], result.weights[1] * 2)


def test_batch_index_and_levels() -> None:
    offsets = torch.zeros(2, 18, 10, 10)
    offsets[1, 0::2] = 1.0  # image 1: every dy = 1
    result = trace_sampling_locations([RES5, RES5], [offsets, offsets], unit=(5, 5), levels=1,
                                      batch_index=1)
    assert result.levels == 1 and result.layer_indices == (1,)
    assert result.points[0][0].tolist() == [4.0, 3.0]


def test_input_errors() -> None:
    offsets = [torch.zeros(18, 10, 10)] * 2
    with pytest.raises(ValueError, match="one offset map per layer"):
        trace_sampling_locations([RES5], offsets, unit=(0, 0))
    with pytest.raises(ValueError, match="outside the top output map"):
        trace_sampling_locations([RES5, RES5], offsets, unit=(10, 0))
    with pytest.raises(ValueError, match="pair of ints"):
        trace_sampling_locations([RES5, RES5], offsets, unit=(1.5, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="levels"):
        trace_sampling_locations([RES5, RES5], offsets, unit=(0, 0), levels=3)
    with pytest.raises(ValueError, match="bottom to top"):
        trace_sampling_locations([RES5, RES5], [torch.zeros(18, 12, 12), torch.zeros(18, 10, 10)],
                                 unit=(0, 0))
    strided = DeformLayerGeometry(3, stride=2, padding=1)
    with pytest.raises(ValueError, match="input_size"):
        trace_sampling_locations([strided], [torch.zeros(18, 5, 5)], unit=(0, 0))
    with pytest.raises(ValueError, match="mask"):
        trace_sampling_locations([RES5, RES5], offsets, unit=(0, 0),
                                 masks=[None, torch.zeros(18, 10, 10)])


def test_agrees_with_two_stacked_deformable_convolutions() -> None:
    """The fractional-placement model is exact for features linear in position.

    Feed the coordinate planes (y, x) through two deformable convs whose one-hot weights copy
    coordinate c of tap k: the bottom layer's output channel 2k + c is where its tap k sampled,
    the top layer's output channel 2(9 k1 + k2) + c is where bottom tap k2 of top tap k1
    sampled. Bilinear interpolation of a linear field is exact, so inside the maps these are
    the level-2 points, in the same parent-major order.
    """
    size = 16
    coords = torch.stack(torch.meshgrid(torch.arange(size, dtype=torch.float64),
                                        torch.arange(size, dtype=torch.float64), indexing="ij"))
    generator = torch.Generator().manual_seed(3)
    offsets = [(torch.rand(18, size, size, generator=generator, dtype=torch.float64) - 0.5) * 1.8
               for _ in range(2)]
    bottom_weight = torch.zeros(18, 2, 3, 3, dtype=torch.float64)
    top_weight = torch.zeros(162, 18, 3, 3, dtype=torch.float64)
    for k in range(9):
        for c in range(2):
            bottom_weight[2 * k + c, c].view(-1)[k] = 1.0
            for k2 in range(9):
                top_weight[2 * (9 * k + k2) + c, 2 * k2 + c].view(-1)[k] = 1.0
    conv = dict(padding=(2, 2), dilation=(2, 2))
    bottom_out = deform_conv2d(coords[None], offsets[0][None], bottom_weight, **conv)
    top_out = deform_conv2d(bottom_out, offsets[1][None], top_weight, **conv)

    unit = (8, 7)
    result = trace_sampling_locations([RES5, RES5], offsets, unit=unit)
    assert bool(result.active[1].all())
    torch.testing.assert_close(result.points[1], top_out[0, :, unit[0], unit[1]].reshape(81, 2))
    # Level 1: the top layer's offsets applied to the coordinates directly.
    direct = deform_conv2d(coords[None], offsets[1][None], bottom_weight, **conv)
    torch.testing.assert_close(result.points[0], direct[0, :, unit[0], unit[1]].reshape(9, 2))
