"""Sampling points through a chain of deformable layers of a real network.

The independent computation is the network itself: its input carries the model-input pixel
coordinates (channel 0 = y, 1 = x) beside noise channels that drive the offset convs, and the
deformable convs' weights select one tap of one coordinate channel per output channel. A
bilinear sample of a position-linear map is that position, so the second layer's output at a
unit holds, for every pair of taps (k2, k1), the coordinates of the level-2 point, computed by
the real operators; the probe + `trace_chain` + the grids must agree. Where the geometric
model and the network differ by construction (a rigid stride-2 step read at a fractional
position), a float64 brute force of the formulas is the reference instead.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from deformviz.geometry import ChainLayer, DeformLayerGeometry, MapGrid, chain_mappings, trace_chain
from deformviz.ops import DeformConv2dPack, deform_conv2d
from deformviz.probe import probe

NOISE = 4  # channels that only drive the offset convs


def _select_taps(layer: DeformConv2dPack, coordinate_channels: int) -> None:
    """Output channel k * C + j = input channel j at tap k (j < C); noise passes through the
    centre tap after them."""
    taps = layer.kernel_size[0] * layer.kernel_size[1]
    with torch.no_grad():
        layer.weight.zero_()
        for k, j in itertools.product(range(taps), range(coordinate_channels)):
            layer.weight[k * coordinate_channels + j, j, k // 3, k % 3] = 1
        for n in range(NOISE):
            layer.weight[taps * coordinate_channels + n, coordinate_channels + n, 1, 1] = 1


def _offsets_from_noise(layer: DeformConv2dPack, coordinate_channels: int, seed: int,
                        scale: float = 0.6) -> None:
    generator = torch.Generator().manual_seed(seed)
    conv = layer.conv_offset
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, coordinate_channels:] = torch.randn(
            conv.weight[:, coordinate_channels:].shape, generator=generator, dtype=conv.weight.dtype
        ) * scale / 3
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator, dtype=conv.bias.dtype) * scale)


class _Chain(nn.Module):
    """planes -> DCN 1 -> (optional stride-2 1x1 identity) -> DCN 2.

    DCN 1 outputs 18 coordinate channels (9 taps x (y, x)) and the noise; DCN 2 outputs
    9 x 18 channels: (k2, k1, c)."""

    def __init__(self, first_stride: int, rigid_step: bool, second_offsets: bool) -> None:
        super().__init__()
        self.first = DeformConv2dPack(2 + NOISE, 18 + NOISE, 3, stride=first_stride, padding=1,
                                      bias=False)
        self.step = nn.Conv2d(18 + NOISE, 18 + NOISE, 1, stride=2, bias=False) if rigid_step else None
        self.second = DeformConv2dPack(18 + NOISE, 162 + NOISE, 3, padding=2, dilation=2, bias=False)
        _select_taps(self.first, 2)
        _select_taps(self.second, 18)
        _offsets_from_noise(self.first, 2, seed=1)
        if second_offsets:
            _offsets_from_noise(self.second, 18, seed=2)
        if self.step is not None:
            with torch.no_grad():
                self.step.weight.copy_(torch.eye(18 + NOISE)[:, :, None, None])

    def forward(self, x):
        x = self.first(x)
        if self.step is not None:
            x = self.step(x)
        return self.second(x)


def _input(size: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                            torch.arange(size, dtype=torch.float64), indexing="ij")
    noise = torch.randn(NOISE, size, size, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    return torch.cat([ys[None], xs[None], noise])[None]


def _level2_from_network(output: torch.Tensor, unit: tuple[int, int]) -> torch.Tensor:
    """[81, 2] (y, x) model-input pixels, parent-major (k2 * 9 + k1)."""
    return output[0, :162, unit[0], unit[1]].reshape(81, 2)


def _traced_pixels(result, unit):
    chain = [record.chain_layer(0) for record in result.layers]
    traced = trace_chain(chain, unit, levels=2)
    return traced, traced.to_image(chain_mappings(chain, traced))


def test_strided_deformable_layer_agrees_with_the_operators() -> None:
    net = _Chain(first_stride=2, rigid_step=False, second_offsets=True).double().eval()
    image = _input(64)
    result = probe(net, image, keep_outputs=True)
    first, second = result.layers
    assert first.output_grid == second.input_grid == MapGrid(2)
    assert second.offset.abs().max() > 0.5 and first.offset.abs().max() > 0.5
    checked = 0
    for unit in [(16, 16), (10, 21), (20, 9), (13, 13)]:
        traced, pixels = _traced_pixels(result, unit)
        expected = _level2_from_network(result.outputs, unit)
        torch.testing.assert_close(pixels[1], expected, atol=1e-9, rtol=0)
        assert traced.active[1].all()
        checked += 81
        # Level 1: the second layer's own taps, in pixels of its input grid (stride 2).
        ys, xs = torch.meshgrid(torch.arange(32.0, dtype=torch.float64) * 2,
                                torch.arange(32.0, dtype=torch.float64) * 2, indexing="ij")
        weight = torch.zeros(18, 2, 3, 3, dtype=torch.float64)
        for k, c in itertools.product(range(9), range(2)):
            weight[2 * k + c, c, k // 3, k % 3] = 1
        sampled = deform_conv2d(torch.stack([ys, xs])[None], second.offset.double(), weight,
                                padding=2, dilation=2)
        torch.testing.assert_close(pixels[0], sampled[0, :, unit[0], unit[1]].reshape(9, 2),
                                   atol=1e-9, rtol=0)
    assert checked == 324


def test_caffe_style_rigid_stride2_step_agrees_with_the_operators() -> None:
    """A stride-2 1x1 between the layers: the upper layer's input cell p is the lower layer's
    output cell 2p. With the upper offsets at zero its taps sit on whole cells, where the
    network's composition and the geometric model coincide exactly."""
    net = _Chain(first_stride=1, rigid_step=True, second_offsets=False).double().eval()
    result = probe(net, _input(48), keep_outputs=True)
    first, second = result.layers
    assert first.output_grid == MapGrid(1) and second.input_grid == MapGrid(2)
    for unit in [(12, 12), (8, 15), (15, 8)]:
        _, pixels = _traced_pixels(result, unit)
        torch.testing.assert_close(pixels[1], _level2_from_network(result.outputs, unit),
                                   atol=1e-9, rtol=0)


def _bilinear(values: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """[C, H, W] read at (y, x) with the DCNv2 zero-border rule, by explicit loops."""
    channels, height, width = values.shape
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return torch.zeros(channels, dtype=torch.float64)
    total = torch.zeros(channels, dtype=torch.float64)
    for qy in (math.floor(y), math.floor(y) + 1):
        for qx in (math.floor(x), math.floor(x) + 1):
            if 0 <= qy < height and 0 <= qx < width:
                total += max(0, 1 - abs(qy - y)) * max(0, 1 - abs(qx - x)) * values[:, qy, qx].double()
    return total


def test_rigid_step_at_fractional_positions_matches_brute_force() -> None:
    """Random offsets in both layers, grids with different strides and origins, a stride-2
    deformable layer and a 5x3 kernel: every level-2 point by the formulas, one at a time."""
    generator = torch.Generator().manual_seed(3)
    lower_geometry = DeformLayerGeometry((5, 3), (2, 2), (2, 1), (1, 1), offset_groups=2)
    upper_geometry = DeformLayerGeometry((3, 3), (1, 1), (2, 2), (2, 2))
    lower = ChainLayer(lower_geometry,
                       torch.randn(2 * 2 * 15, 10, 12, generator=generator, dtype=torch.float64),
                       torch.rand(2 * 15, 10, 12, generator=generator, dtype=torch.float64),
                       (20, 24), MapGrid(4, 1.5), MapGrid(8, 1.5))
    upper = ChainLayer(upper_geometry,
                       torch.randn(18, 5, 6, generator=generator, dtype=torch.float64) * 1.5,
                       None, (5, 6), MapGrid(16, 5.5), MapGrid(16, 5.5))
    unit = (2, 3)
    traced = trace_chain([lower, upper], unit, levels=2, offset_group=[1, 0])
    for k2 in range(9):
        i2, j2 = divmod(k2, 3)
        dy, dx = _bilinear(upper.offset[2 * k2:2 * k2 + 2], *unit).tolist()
        p = (unit[0] - 2 + 2 * i2 + dy, unit[1] - 2 + 2 * j2 + dx)
        torch.testing.assert_close(traced.points[0][k2], torch.tensor(p, dtype=torch.float64))
        q = ((p[0] * 16 + 5.5 - 1.5) / 8, (p[1] * 16 + 5.5 - 1.5) / 8)  # the rigid step
        for k1 in range(15):
            i1, j1 = divmod(k1, 3)
            channel = 30 + 2 * k1  # offset group 1
            oy, ox = _bilinear(lower.offset[channel:channel + 2], *q).tolist()
            expected = (q[0] * 2 - 2 + i1 + oy, q[1] * 2 - 1 + j1 + ox)
            index = k2 * 15 + k1
            torch.testing.assert_close(traced.points[1][index],
                                       torch.tensor(expected, dtype=torch.float64))
            mask = _bilinear(lower.mask[15 + k1:16 + k1], *q).item()
            assert abs(traced.weights[1][index].item() - mask) < 1e-12
    # Each level maps with its own layer's input grid.
    mappings = chain_mappings([lower, upper], traced)
    assert [m.stride for m in mappings] == [(16.0, 16.0), (4.0, 4.0)]
    assert [m.origin for m in mappings] == [(5.5, 5.5), (1.5, 1.5)]


def test_any_number_of_levels() -> None:
    layer = DeformLayerGeometry.paper_res5()
    chain = [ChainLayer(layer, torch.zeros(18, 12, 12), None, (12, 12), MapGrid(16), MapGrid(16))
             for _ in range(4)]
    counts = [[p.shape[0] for p in trace_chain(chain, (6, 6), levels).points]
              for levels in (1, 4)]
    assert counts == [[9], [9, 81, 729, 6561]]
