"""Precision: autocast, float16/bfloat16 on the CPU, and batches split into several chunks."""

from __future__ import annotations

import pytest
import torch

from deformviz.ops import (DeformConv2dPack, DeformRoIPool, column_budget, deform_conv2d,
                           deform_roi_pool, reference)

from .conftest import make_conv_case
from .test_deform_conv2d import assert_matches_reference
from .test_deform_roi_pool import make_inputs

HALF_TYPES = [torch.float16, torch.bfloat16]


def gemm_calls(fn) -> int:
    """How many GEMMs (aten::mm) `fn()` runs on the CPU in one thread: one per tile of output
    positions, weight group and pass."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the profiler records the calling thread's operators only
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            fn()
    finally:
        torch.set_num_threads(previous)
    return sum(1 for event in profile.events() if event.name == "aten::mm")


def column_bytes_per_position(case) -> int:
    """Bytes of one column row: every input channel at every tap of one output position."""
    channels = case.input.shape[1]
    taps = case.weight.shape[2] * case.weight.shape[3]
    return channels * taps * case.input.element_size()


@pytest.mark.parametrize("positions_per_tile", [1, 4, 7])
def test_forward_and_backward_across_several_tiles_match_the_reference(positions_per_tile):
    case = make_conv_case(batch=7, channels=3, size=(5, 6), out_channels=4, offset_groups=3)
    positions = case.offset.shape[2] * case.offset.shape[3]
    with column_budget(column_bytes_per_position(case) * positions_per_tile):
        tiles = -(-positions // positions_per_tile)
        assert gemm_calls(lambda: deform_conv2d(*case.args())) == 7 * tiles
        assert_matches_reference(case, 1e-10)


def test_column_budget_is_restored_and_checked():
    case = make_conv_case(groups=2, channels=4)
    positions = case.offset.shape[2] * case.offset.shape[3]
    batch = case.input.shape[0]
    with column_budget(1):  # one position per tile, one GEMM per tile and weight group
        assert gemm_calls(lambda: deform_conv2d(*case.args())) == batch * positions * 2
    assert gemm_calls(lambda: deform_conv2d(*case.args())) == batch * 2
    with pytest.raises(ValueError, match="column budget"):
        with column_budget(0):
            pass


@pytest.mark.parametrize("batch, size, padding", [(1, (9, 11), (1, 1)), (3, (9, 11), (1, 1)),
                                                  (1, (3, 3), (0, 0))])
def test_fewer_images_than_threads_scatter_into_separate_buffers_deterministically(
        batch, size, padding):
    """With more threads than images, an image's input gradient is summed from several
    threads' buffers (more buffers than output positions for the 1x1 map): the gradients
    match the reference and repeat bit for bit."""
    case = make_conv_case(batch=batch, channels=4, size=size, padding=padding, out_channels=3,
                          offset_groups=2)
    previous = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        assert_matches_reference(case, 1e-10)
        runs = []
        for _ in range(2):
            tensors = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
            it = iter(tensors)
            args = [next(it) if t is not None else None for t in
                    (case.input, case.offset, case.weight, case.bias, case.mask)]
            out = deform_conv2d(args[0], args[1], args[2], args[3], case.stride, case.padding,
                                case.dilation, args[4])
            out.backward(torch.ones_like(out))
            runs.append([t.grad for t in tensors])
    finally:
        torch.set_num_threads(previous)
    for first, second in zip(*runs):
        assert torch.equal(first, second)


def rounded_case(dtype, **kw):
    """A float64 case whose values are exactly representable in `dtype`."""
    case = make_conv_case(**kw)
    for name in ("input", "offset", "weight", "bias", "mask"):
        value = getattr(case, name)
        if value is not None:
            setattr(case, name, value.to(dtype).double())
    return case


def cast(case, dtype):
    return [t.to(dtype) if isinstance(t, torch.Tensor) else t for t in case.args()]


def assert_close_scaled(got, want, rtol):
    """Equal up to `rtol` times the largest magnitude of the float64 reference."""
    scale = want.abs().max().item()
    assert scale > 0
    error = (got.double() - want).abs().max().item()
    assert error <= rtol * scale, f"max error {error:.3g} > {rtol} x {scale:.3g}"


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 4e-3), (torch.bfloat16, 3e-2)])
def test_half_types_on_the_cpu_match_float64_on_the_same_inputs(dtype, rtol):
    case = rounded_case(dtype, channels=8, out_channels=6, offset_groups=2)
    upstream = torch.randn(2, 6, 7, 8, dtype=torch.float64).to(dtype).double()
    halves = [t.detach().to(dtype).requires_grad_(True) for t in case.tensors()]
    doubles = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
    results = []
    for tensors in (halves, doubles):
        it = iter(tensors)
        args = [next(it) if t is not None else None for t in
                (case.input, case.offset, case.weight, case.bias, case.mask)]
        out = deform_conv2d(args[0], args[1], args[2], args[3], case.stride, case.padding,
                            case.dilation, args[4])
        out.backward(upstream.to(out.dtype))
        results.append(out)
    assert results[0].dtype == dtype
    assert_close_scaled(results[0], results[1].detach(), rtol)
    for half, double in zip(halves, doubles):
        assert half.grad.dtype == dtype
        assert_close_scaled(half.grad, double.grad, 4 * rtol)


def test_float16_weight_gradient_accumulates_in_float32_across_chunks():
    """Two images whose weight gradients are +-76800 (beyond float16's 65504) sum to 0."""
    input = torch.ones(2, 1, 16, 16, dtype=torch.float16)
    weight = torch.ones(1, 1, 1, 1, dtype=torch.float16, requires_grad=True)
    offset = torch.zeros(2, 2, 16, 16, dtype=torch.float16)
    upstream = torch.full((2, 1, 16, 16), 300.0, dtype=torch.float16)
    upstream[1] = -300.0
    with column_budget(16 * 16 * 2):  # one image per chunk
        deform_conv2d(input, offset, weight).backward(upstream)
    assert weight.grad.item() == 0.0


def test_half_roi_pooling_on_the_cpu_matches_float64():
    features, rois, offset = make_inputs(num_rois=6, channels=4)
    features, offset = features.bfloat16().double(), offset.bfloat16().double()
    rois = rois.bfloat16().double()
    expected = deform_roi_pool(features, rois, offset, output_size=3, spatial_scale=0.5)
    got = deform_roi_pool(features.bfloat16(), rois.bfloat16(), offset.bfloat16(),
                          output_size=3, spatial_scale=0.5)
    assert got.dtype == torch.bfloat16
    assert_close_scaled(got, expected, 2e-2)


def test_deform_conv2d_under_autocast_computes_in_float32():
    case = make_conv_case(dtype=torch.float32)
    low = case.offset.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = deform_conv2d(case.input, low, case.weight, case.bias, case.stride, case.padding,
                            case.dilation, case.mask.bfloat16())
        via_op = torch.ops.deformviz.deform_conv2d(case.input.bfloat16(), case.weight, low,
                                                   case.mask, None, 1, 1, 1, 1, 1, 1)
    expected = deform_conv2d(case.input, low.float(), case.weight, case.bias, case.stride,
                             case.padding, case.dilation, case.mask.bfloat16().float())
    assert out.dtype == torch.float32  # the input's dtype, as torchvision returns
    torch.testing.assert_close(out, expected)
    assert via_op.dtype == torch.bfloat16
    expected_op = deform_conv2d(case.input.bfloat16().float(), low.float(), case.weight, None,
                                1, 1, 1, case.mask)
    torch.testing.assert_close(via_op, expected_op.bfloat16())


def test_deform_conv2d_module_trains_under_autocast():
    torch.manual_seed(0)
    layer = DeformConv2dPack(4, 6, 3, padding=1, modulated=True)
    with torch.no_grad():
        layer.conv_offset.weight.normal_(std=0.3)
    x = torch.randn(2, 4, 9, 9, requires_grad=True)
    seen = {}
    layer.register_offset_hook(lambda module, offset, mask: seen.update(offset=offset, mask=mask))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert seen["offset"].dtype == torch.bfloat16
    expected = deform_conv2d(x, seen["offset"].float(), layer.weight, layer.bias, padding=1,
                             mask=seen["mask"].float())
    torch.testing.assert_close(y, expected)
    y.square().mean().backward()
    for tensor in (x, layer.weight, layer.conv_offset.weight):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0
        assert torch.isfinite(tensor.grad).all()


def test_deform_roi_pool_module_runs_under_autocast():
    features, rois, _ = make_inputs()
    features, rois = features.float(), rois.float()
    pool = DeformRoIPool(3, 3, spatial_scale=0.5, hidden_channels=16)
    with torch.no_grad():
        pool.offset_fc[-1].weight.normal_(std=0.1)
    seen = {}
    pool.register_offset_hook(lambda module, offset, rois: seen.update(offset=offset))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pool(features, rois)
    assert seen["offset"].dtype == torch.bfloat16 and out.dtype == torch.float32
    expected = deform_roi_pool(features, rois, seen["offset"].float(), output_size=3,
                               spatial_scale=0.5)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert pool.offset_fc[-1].weight.grad.abs().sum() > 0


def test_reference_fallback_under_autocast_matches_compiled(monkeypatch):
    from deformviz.ops import _extension

    case = make_conv_case(dtype=torch.float32)
    low = case.offset.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        compiled = deform_conv2d(case.input, low, case.weight, padding=1)
    monkeypatch.setattr(_extension, "_compiled", None)
    monkeypatch.setattr(_extension, "_warned", {"cpu"})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fallback = deform_conv2d(case.input, low, case.weight, padding=1)
    assert fallback.dtype == compiled.dtype == torch.float32
    torch.testing.assert_close(fallback, compiled)


def test_mixed_dtypes_outside_autocast_are_still_an_error():
    case = make_conv_case(dtype=torch.float32)
    with pytest.raises(TypeError, match="offset has dtype torch.bfloat16"):
        deform_conv2d(case.input, case.offset.bfloat16(), case.weight)


def test_cpu_backward_is_deterministic_and_does_not_alert():
    case = make_conv_case()
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        assert_matches_reference(case, 1e-10)
    finally:
        torch.use_deterministic_algorithms(previous)
