"""read_bilinear / inside_map: hand-computed values, exactness, and the operators' border rule."""

from __future__ import annotations

import torch

from deformviz.geometry import inside_map, read_bilinear
from deformviz.ops.reference import bilinear_zero_padded


def test_hand_computed_value() -> None:
    values = torch.tensor([[[1.0, 5.0], [2.0, 10.0]]])
    # (0.25, 0.5): weights 0.75*0.5 on (0,0),(0,1) and 0.25*0.5 on (1,0),(1,1).
    expected = 0.375 * 1 + 0.375 * 5 + 0.125 * 2 + 0.125 * 10
    assert read_bilinear(values, torch.tensor([[0.25, 0.5]])).tolist() == [[expected]]


def test_integer_positions_read_the_cell() -> None:
    values = torch.arange(24.0).reshape(2, 3, 4)
    out = read_bilinear(values, torch.tensor([[2.0, 3.0], [0.0, 1.0]]))
    assert out.tolist() == [[11.0, 23.0], [1.0, 13.0]]


def test_linear_map_is_read_exactly_inside() -> None:
    height, width = 7, 9
    y = torch.arange(height, dtype=torch.float64)[:, None].expand(height, width)
    x = torch.arange(width, dtype=torch.float64)[None, :].expand(height, width)
    values = torch.stack([0.3 * y - 1.2, -0.7 * x + 2.0, 0.5 * y + 0.25 * x])
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(50, 2, generator=generator, dtype=torch.float64)
    points = points * torch.tensor([height - 1, width - 1], dtype=torch.float64)
    py, px = points.unbind(-1)
    expected = torch.stack([0.3 * py - 1.2, -0.7 * px + 2.0, 0.5 * py + 0.25 * px], dim=-1)
    torch.testing.assert_close(read_bilinear(values, points), expected)


def test_values_fade_to_zero_outside() -> None:
    values = torch.ones(1, 3, 4)
    points = torch.tensor([[-0.25, 1.0], [-1.0, 1.0], [2.5, 1.0], [3.0, 1.0], [1.0, -0.5],
                           [1.0, 3.75], [1.0, 4.0], [-5.0, 20.0]])
    read = read_bilinear(values, points)[:, 0].tolist()
    assert read == [0.75, 0.0, 0.5, 0.0, 0.5, 0.25, 0.0, 0.0]
    inside = inside_map(points, (3, 4)).tolist()
    assert inside == [True, False, True, False, True, True, False, False]


def test_matches_operator_sampling_rule() -> None:
    generator = torch.Generator().manual_seed(1)
    values = torch.randn(3, 5, 6, generator=generator, dtype=torch.float64)
    points = torch.rand(200, 2, generator=generator, dtype=torch.float64) * 9 - 2  # [-2, 7)
    points[:10] = points[:10].round()  # integer positions, including the borders
    ours = read_bilinear(values, points)
    reference = bilinear_zero_padded(values[None], points[None, :, 0], points[None, :, 1])
    torch.testing.assert_close(ours, reference[0].T)
