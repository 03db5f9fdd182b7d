"""Shapes and values at the edges: empty tensors, 1x1 maps, kernels that do not fit, and
non-finite inputs. None of them may crash, read out of bounds or invent NaNs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deformviz.ops import deform_conv2d, deform_roi_pool, reference

from .conftest import make_conv_case
from .test_deform_conv2d import assert_matches_reference


def naive_deform_conv2d(input, offset, weight, bias, padding, mask=None):
    """Float64 oracle written as the formula reads, stride and dilation 1: each sample is the sum
    of w_n * x_n over the in-image neighbours whose bilinear weight w_n is not zero. A term of
    weight 0 is left out rather than multiplied, so an Inf spreads exactly as far as the
    bilinear formula carries it."""
    batch, channels, height, width = input.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h, out_w = offset.shape[-2:]
    columns = torch.zeros(batch, channels, kernel_h, kernel_w, out_h, out_w, dtype=torch.float64)
    for b in range(batch):
        for i in range(kernel_h):
            for j in range(kernel_w):
                k = i * kernel_w + j
                for oy in range(out_h):
                    for ox in range(out_w):
                        y = oy - padding[0] + i + float(offset[b, 2 * k, oy, ox])
                        x = ox - padding[1] + j + float(offset[b, 2 * k + 1, oy, ox])
                        if not (-1 < y < height and -1 < x < width):
                            continue
                        y0, x0 = math.floor(y), math.floor(x)
                        ly, lx = y - y0, x - x0
                        for yy, xx, w in ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1, (1 - ly) * lx),
                                          (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx)):
                            if w != 0 and 0 <= yy < height and 0 <= xx < width:
                                columns[b, :, i, j, oy, ox] += w * input[b, :, yy, xx]
                        if mask is not None:
                            columns[b, :, i, j, oy, ox] *= float(mask[b, k, oy, ox])
    output = torch.einsum("bcijyx,ocij->boyx", columns, weight)
    return output if bias is None else output + bias.view(1, -1, 1, 1)


def assert_same_non_finite_pattern(got, expected):
    for kind in (torch.isnan, torch.isposinf, torch.isneginf):
        mismatch = (kind(got) != kind(expected)).sum().item()
        assert mismatch == 0, f"{kind.__name__}: {mismatch} of {got.numel()} outputs differ"
    finite = torch.isfinite(expected)
    torch.testing.assert_close(got[finite], expected[finite])


def image_with_inf(channels=2, size=(6, 6), dtype=torch.float64):
    image = torch.randn(1, channels, *size, dtype=dtype, generator=torch.Generator().manual_seed(4))
    image[0, 0, 0, 0] = math.inf
    return image


def test_an_inf_pixel_spreads_like_conv2d_for_zero_offsets():
    """One Inf at (0, 0): the outputs that F.conv2d makes non-finite, and no others."""
    image = image_with_inf()
    weight = torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    offset = torch.zeros(1, 18, 6, 6, dtype=torch.float64)
    ours = deform_conv2d(image, offset, weight, padding=1)
    assert_same_non_finite_pattern(ours, F.conv2d(image, weight, padding=1))


@pytest.mark.parametrize("modulated", [False, True])
def test_an_inf_pixel_spreads_as_far_as_bilinear_sampling_carries_it(modulated):
    """Offsets on and between pixels, pointing in and out of the image, against the oracle."""
    image = image_with_inf(size=(5, 6))
    generator = torch.Generator().manual_seed(6)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=generator)
    choices = torch.tensor([-1.0, -0.5, 0.0, 0.25, 1.0, 1.5, -2.0], dtype=torch.float64)
    offset = choices[torch.randint(0, len(choices), (1, 18, 5, 6), generator=generator)]
    mask = torch.rand(1, 9, 5, 6, dtype=torch.float64, generator=generator) if modulated else None
    ours = deform_conv2d(image, offset, weight, None, 1, 1, 1, mask)
    expected = naive_deform_conv2d(image, offset, weight, None, (1, 1), mask)
    assert torch.isfinite(expected).sum() > 0 and (~torch.isfinite(expected)).sum() > 0
    assert_same_non_finite_pattern(ours, expected)


def test_backward_skips_the_zero_weight_neighbour_of_a_sample_on_a_pixel():
    """Zero offsets put every sample on a pixel; its right and lower neighbours get bilinear
    weight 0 but slope 1. With an Inf at (2, 3) the mask gradient (value times upstream) is
    non-finite only where a sample lands on (2, 3), and the position gradient only where the
    Inf has slope: on it (dy and dx), one row above (dy) and one column left (dx)."""
    image = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    image[0, 0, 2, 3] = math.inf
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    offset = torch.zeros(1, 18, 5, 6, dtype=torch.float64, requires_grad=True)
    mask = torch.full((1, 9, 5, 6), 0.5, dtype=torch.float64, requires_grad=True)
    deform_conv2d(image, offset, weight, None, 1, 1, 1, mask).sum().backward()
    on = torch.zeros(9, 5, 6, dtype=torch.bool)
    above = torch.zeros_like(on)
    left = torch.zeros_like(on)
    for k in range(9):
        i, j = divmod(k, 3)
        for oy in range(5):
            for ox in range(6):
                y, x = oy - 1 + i, ox - 1 + j
                on[k, oy, ox] = (y, x) == (2, 3)
                above[k, oy, ox] = (y, x) == (1, 3)
                left[k, oy, ox] = (y, x) == (2, 2)
    assert torch.equal(~torch.isfinite(mask.grad[0]), on)
    assert torch.equal(~torch.isfinite(offset.grad[0, 0::2]), on | above)
    assert torch.equal(~torch.isfinite(offset.grad[0, 1::2]), on | left)


def test_the_oracle_agrees_with_the_reference_on_finite_inputs():
    case = make_conv_case(batch=1, channels=2, size=(5, 6), out_channels=3, with_bias=False)
    torch.testing.assert_close(
        naive_deform_conv2d(case.input, case.offset, case.weight, None, case.padding, case.mask),
        reference.deform_conv2d(*case.args()))


@pytest.mark.parametrize("size, padding, out_size", [((0, 5), 1, (2, 7)), ((3, 0), 2, (7, 4)),
                                                     ((0, 0), 1, (2, 2))])
def test_an_empty_map_with_padding_reads_only_zeros(size, padding, out_size):
    """Every sample falls outside an empty map: the output is the bias, the gradients zero."""
    input = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    offset = torch.randn(2, 2, *out_size, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 1, *out_size, dtype=torch.float64, requires_grad=True)
    out = deform_conv2d(input, offset, weight, bias, padding=padding, mask=mask)
    assert out.shape == (2, 4, *out_size)
    torch.testing.assert_close(out, bias.view(1, 4, 1, 1).expand_as(out))
    out.sum().backward()
    assert input.grad.shape == input.shape
    for t in (weight, offset, mask):
        assert t.grad.abs().max() == 0
    torch.testing.assert_close(bias.grad, torch.full((4,), 2.0 * out_size[0] * out_size[1],
                                                     dtype=torch.float64))


def test_an_empty_map_without_padding_is_a_one_line_error_as_for_conv2d():
    input = torch.randn(1, 2, 0, 5, dtype=torch.float64)
    weight = torch.randn(3, 2, 1, 1, dtype=torch.float64)
    offset = torch.zeros(1, 2, 1, 5, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(input, weight)
    with pytest.raises(ValueError, match=r"input of 0x5 padded to 0x5 is smaller than the kernel"):
        deform_conv2d(input, offset, weight)
    with pytest.raises(ValueError, match=r"input of 0x5 padded to 0x5 is smaller than the kernel"):
        torch.ops.deformviz.deform_conv2d(input, weight, offset, None, None, 1, 1, 0, 0, 1, 1)


def test_empty_channels_give_the_bias():
    """A sum over no input channels is 0: the output is the bias (F.conv2d returns no channels)."""
    input = torch.randn(2, 0, 5, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 0, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64)
    offset = torch.randn(2, 18, 5, 5, dtype=torch.float64, requires_grad=True)
    out = deform_conv2d(input, offset, weight, bias, padding=1)
    torch.testing.assert_close(out, bias.view(1, 3, 1, 1).expand(2, 3, 5, 5))
    out.sum().backward()
    assert offset.grad.abs().max() == 0 and weight.grad.shape == weight.shape


def test_a_zero_sized_kernel_is_a_one_line_error():
    input = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    weight = torch.randn(3, 2, 0, 3, dtype=torch.float64)
    offset = torch.zeros(1, 2, 5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="kernel of at least 1x1"):
        deform_conv2d(input, offset, weight)
    with pytest.raises(ValueError, match="kernel of at least 1x1"):
        torch.ops.deformviz.deform_conv2d(input, weight, offset, None, None, 1, 1, 0, 0, 1, 1)


def test_the_compiled_op_rejects_a_kernel_that_does_not_fit_at_any_stride():
    """(H + 2p - extent) // stride + 1 must not round towards zero into a bogus output row."""
    input = torch.randn(1, 1, 2, 2, dtype=torch.float64)
    weight = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    offset = torch.zeros(1, 18, 1, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        torch.ops.deformviz.deform_conv2d(input, weight, offset, None, None, 2, 2, 0, 0, 1, 1)


@pytest.mark.parametrize("kw", [dict(batch=0, padding=(0, 0)), dict(batch=0, size=(1, 1)),
                                dict(size=(1, 1)), dict(size=(1, 1), kernel=(1, 1), padding=(0, 0)),
                                dict(size=(2, 3), kernel=(5, 5), padding=(2, 2)),
                                dict(size=(1, 4), kernel=(3, 7), padding=(1, 3), offset_scale=3.0),
                                dict(channels=0), dict(out_channels=0)])
def test_tiny_and_empty_cases_match_the_reference(kw):
    """1x1 maps, kernels larger than the map (padding makes them fit), no input or output
    channels: values and gradients."""
    assert_matches_reference(make_conv_case(**kw), 1e-10)


def test_a_kernel_that_does_not_fit_is_a_one_line_error():
    case = make_conv_case(size=(2, 2), kernel=(3, 3), padding=(1, 1))
    case.padding = (0, 0)
    with pytest.raises(ValueError, match=r"input of 2x2 padded to 2x2 .*kernel") as error:
        deform_conv2d(*case.args())
    assert "\n" not in str(error.value)


def roi_inputs(batch=2, channels=3, size=(6, 7)):
    features = torch.randn(batch, channels, *size, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(7))
    return features


@pytest.mark.parametrize("size", [(0, 5), (4, 0), (0, 0)])
def test_roi_pooling_an_empty_map_reads_zeros(size):
    features = torch.randn(1, 2, *size, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.0, 0.0, 2.0, 2.0], [0, -1.0, -1.0, 1.0, 1.0]], dtype=torch.float64)
    offset = torch.zeros(2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    out = deform_roi_pool(features, rois, offset, output_size=2)
    assert out.shape == (2, 2, 2, 2) and out.abs().max() == 0
    out.sum().backward()
    assert offset.grad.abs().max() == 0


@pytest.mark.parametrize("index", [math.inf, -math.inf, math.nan, 2.0, -1.0, 1e30])
def test_roi_with_an_impossible_batch_index_pools_to_zero(index):
    features = roi_inputs()
    rois = torch.tensor([[index, 1.0, 1.0, 5.0, 4.0], [1, 1.0, 1.0, 5.0, 4.0]], dtype=torch.float64)
    out = deform_roi_pool(features, rois, None, output_size=2)
    assert out[0].abs().max() == 0 and out[1].abs().max() > 0
    torch.testing.assert_close(out, reference.deform_roi_pool(features, rois, None, (2, 2)))


@pytest.mark.parametrize("box", [(0.0, 0.0, 1e12, 3.0), (0.0, 0.0, math.inf, 3.0),
                                 (-math.inf, 0.0, 3.0, 3.0), (0.0, math.nan, 3.0, 3.0),
                                 (-1e9, -1e9, 1e9, 1e9)])
def test_absurd_boxes_finish_and_match_the_reference(box):
    """The adaptive sample count is bounded, the same way in the kernels and the reference."""
    features = roi_inputs().requires_grad_(True)
    rois = torch.tensor([[0, *box], [1, 1.0, 1.0, 5.0, 4.0]], dtype=torch.float64)
    offset = torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    offset.requires_grad_(True)
    out = deform_roi_pool(features, rois, offset, output_size=3)
    expected = reference.deform_roi_pool(features, rois, offset, (3, 3))
    torch.testing.assert_close(out, expected)
    assert torch.isfinite(out).all()
    grads = torch.autograd.grad(out.sum(), (features, offset))
    expected_grads = torch.autograd.grad(expected.sum(), (features, offset))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
