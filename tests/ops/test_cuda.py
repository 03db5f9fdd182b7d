"""CUDA kernels against float64 CPU results on the same inputs. Needs a GPU:
`pytest -m cuda tests/ops` runs only these (under `compute-sanitizer --tool memcheck` too).

Half-precision runs get inputs rounded to their dtype first, so the float64 reference sees
exactly the values the GPU sees, and tolerances are relative to the largest magnitude of the
reference: an all-zero or wildly wrong result cannot pass."""

from __future__ import annotations

import math

import pytest
import torch

from deformviz.ops import (DeformConv2dPack, DeformRoIPool, column_budget, deform_conv2d,
                           deform_roi_pool, operator_backend)

from .conftest import make_conv_case
from .test_deform_conv2d import CONFIGS
from .test_deform_roi_pool import make_inputs
from .test_edge_cases import assert_same_non_finite_pattern, image_with_inf

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# (dtype, rtol): the largest error allowed, relative to the reference's largest magnitude, for
# outputs; gradients get four times as much (they sum more terms).
DTYPES = [(torch.float64, 1e-12), (torch.float32, 1e-5), (torch.float16, 4e-3),
          (torch.bfloat16, 3e-2)]
DTYPE_IDS = [str(d).removeprefix("torch.") for d, _ in DTYPES]


def assert_close_scaled(got: torch.Tensor, want: torch.Tensor, rtol: float, what: str) -> None:
    got = got.detach().double().cpu()
    scale = want.abs().max().item()
    assert scale > 0, f"{what}: the reference is all zero, the comparison would prove nothing"
    error = (got - want).abs().max().item()
    assert error <= rtol * scale, f"{what}: max error {error:.3g} > {rtol} x {scale:.3g}"


def conv_call(case, tensors):
    it = iter(tensors)
    args = [next(it) if t is not None else None for t in
            (case.input, case.offset, case.weight, case.bias, case.mask)]
    return deform_conv2d(args[0], args[1], args[2], args[3], case.stride, case.padding,
                         case.dilation, args[4])


def check_conv_against_cpu(case, dtype, rtol, transform=lambda t: t):
    """Forward and every gradient of `case` on CUDA in `dtype` against float64 on the CPU, on
    inputs rounded to `dtype`. `transform` may make the CUDA inputs non-contiguous."""
    rounded = [t.to(dtype).double() for t in case.tensors()]
    cpu = [t.clone().requires_grad_(True) for t in rounded]
    gpu = [transform(t.to("cuda", dtype)).requires_grad_(True) for t in rounded]
    out_cpu, out_gpu = conv_call(case, cpu), conv_call(case, gpu)
    assert out_gpu.dtype == dtype and out_gpu.is_cuda
    upstream = torch.randn(out_cpu.shape, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(2)).to(dtype).double()
    out_cpu.backward(upstream)
    out_gpu.backward(upstream.to("cuda", dtype))
    assert_close_scaled(out_gpu, out_cpu.detach(), rtol, "output")
    for index, (a, b) in enumerate(zip(gpu, cpu)):
        assert a.grad.dtype == dtype
        assert_close_scaled(a.grad, b.grad, 4 * rtol, f"gradient {index}")


def test_compiled_cuda_backend():
    assert operator_backend("cuda") == "compiled-cuda"


@pytest.mark.parametrize("dtype, rtol", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", CONFIGS)
def test_deform_conv2d_cuda_matches_cpu_float64(name, dtype, rtol):
    check_conv_against_cpu(make_conv_case(**CONFIGS[name]), dtype, rtol)


@pytest.mark.parametrize("dtype, rtol", DTYPES, ids=DTYPE_IDS)
def test_deform_conv2d_cuda_across_several_chunks(dtype, rtol):
    case = make_conv_case(batch=7, channels=8, size=(9, 10), out_channels=6, offset_groups=2)
    per_image = 8 * 9 * 9 * 10 * torch.tensor([], dtype=dtype).element_size()
    with column_budget(2 * per_image):  # 4 chunks: 2, 2, 2, 1 images
        check_conv_against_cpu(case, dtype, rtol)


def test_deform_conv2d_cuda_non_contiguous_inputs():
    case = make_conv_case(channels=4, out_channels=6)
    check_conv_against_cpu(case, torch.float32, 1e-5,
                           transform=lambda t: t.transpose(-1, -2).contiguous().transpose(-1, -2)
                           if t.dim() == 4 else t)


def test_deform_conv2d_cuda_batch_zero_and_empty_map():
    case = make_conv_case(batch=0)
    args = [t.cuda() if isinstance(t, torch.Tensor) else t for t in case.args()]
    assert deform_conv2d(*args).shape == (0, 6, 7, 8)
    input = torch.randn(2, 3, 0, 5, device="cuda", requires_grad=True)
    weight = torch.randn(4, 3, 1, 1, device="cuda")
    bias = torch.randn(4, device="cuda")
    offset = torch.randn(2, 2, 2, 7, device="cuda", requires_grad=True)
    out = deform_conv2d(input, offset, weight, bias, padding=1)
    torch.testing.assert_close(out, bias.view(1, 4, 1, 1).expand_as(out))
    out.sum().backward()
    assert offset.grad.abs().max().item() == 0
    torch.cuda.synchronize()


def test_deform_conv2d_cuda_inf_spreads_like_on_the_cpu():
    image = image_with_inf(size=(5, 6))
    generator = torch.Generator().manual_seed(6)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=generator)
    choices = torch.tensor([-1.0, -0.5, 0.0, 0.25, 1.0, 1.5, -2.0], dtype=torch.float64)
    offset = choices[torch.randint(0, len(choices), (1, 18, 5, 6), generator=generator)]
    cpu = deform_conv2d(image, offset, weight, padding=1)
    gpu = deform_conv2d(image.cuda(), offset.cuda(), weight.cuda(), padding=1)
    assert_same_non_finite_pattern(gpu.cpu(), cpu)


@pytest.mark.parametrize("dtype, rtol", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("use_offset, sampling_ratio", [(True, 0), (False, 0), (True, 2)])
def test_deform_roi_pool_cuda_matches_cpu_float64(dtype, rtol, use_offset, sampling_ratio):
    features, rois, offset = (t.to(dtype).double() for t in make_inputs(num_rois=6, channels=20))
    cpu = [features.clone().requires_grad_(True), offset.clone().requires_grad_(True)]
    gpu = [t.detach().to("cuda", dtype).requires_grad_(True) for t in cpu]
    kw = dict(output_size=3, spatial_scale=0.5, sampling_ratio=sampling_ratio)
    out_cpu = deform_roi_pool(cpu[0], rois, cpu[1] if use_offset else None, **kw)
    out_gpu = deform_roi_pool(gpu[0], rois.to("cuda", dtype), gpu[1] if use_offset else None, **kw)
    upstream = torch.randn(out_cpu.shape, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(3)).to(dtype).double()
    out_cpu.backward(upstream)
    out_gpu.backward(upstream.to("cuda", dtype))
    assert_close_scaled(out_gpu, out_cpu.detach(), rtol, "output")
    assert_close_scaled(gpu[0].grad, cpu[0].grad, 4 * rtol, "input gradient")
    if use_offset:
        assert_close_scaled(gpu[1].grad, cpu[1].grad, 4 * rtol, "offset gradient")


@pytest.mark.parametrize("box", [(0.0, 0.0, 1e12, 3.0), (0.0, 0.0, math.inf, 3.0),
                                 (0.0, math.nan, 3.0, 3.0), (-1e9, -1e9, 1e9, 1e9)])
def test_deform_roi_pool_cuda_absurd_boxes_finish_like_on_the_cpu(box):
    features, _, offset = make_inputs(num_rois=2, size=(6, 7))
    rois = torch.tensor([[0, *box], [math.inf, 1.0, 1.0, 5.0, 4.0]], dtype=torch.float64)
    cpu = deform_roi_pool(features, rois, offset, output_size=3)
    gpu = deform_roi_pool(features.cuda(), rois.cuda(), offset.cuda(), output_size=3)
    torch.testing.assert_close(gpu.cpu(), cpu)


def test_deform_roi_pool_cuda_no_rois():
    features, rois, offset = make_inputs()
    out = deform_roi_pool(features.cuda(), rois[:0].cuda(), offset[:0].cuda(), output_size=3)
    assert out.shape == (0, 3, 3, 3)


def test_side_stream():
    case = make_conv_case(batch=3, channels=8, out_channels=4, dtype=torch.float32)
    expected = deform_conv2d(*case.args())
    args = [t.cuda() if isinstance(t, torch.Tensor) else t for t in case.args()]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        out = deform_conv2d(*args)
        features, rois, offset = (t.float().cuda() for t in make_inputs())
        pooled = deform_roi_pool(features, rois, offset, output_size=3)
    stream.synchronize()
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled.cpu(), deform_roi_pool(*(t.float() for t in make_inputs()),
                                                             output_size=3))


def test_deterministic_mode_alerts_on_cuda_backward():
    case = make_conv_case(dtype=torch.float32)
    tensors = [t.cuda().requires_grad_(True) for t in case.tensors()]
    features, rois, offset = (t.float().cuda() for t in make_inputs())
    features.requires_grad_(True)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.raises(RuntimeError, match="_deform_conv2d_backward"):
            conv_call(case, tensors).sum().backward()
        with pytest.raises(RuntimeError, match="_deform_roi_pool_backward"):
            deform_roi_pool(features, rois, offset, output_size=3).sum().backward()
    finally:
        torch.use_deterministic_algorithms(previous)


def test_opcheck_cuda():
    case = make_conv_case(batch=2, channels=2, size=(4, 4), out_channels=2)
    tensors = [t.cuda().requires_grad_(True) for t in case.tensors()]
    input, offset, weight, bias, mask = tensors
    torch.library.opcheck(torch.ops.deformviz.deform_conv2d.default,
                          (input, weight, offset, mask, bias, 1, 1, 1, 1, 1, 1))
    features, rois, roi_offset = (t.cuda() for t in make_inputs(num_rois=3, channels=2))
    features.requires_grad_(True)
    roi_offset.requires_grad_(True)
    torch.library.opcheck(torch.ops.deformviz.deform_roi_pool.default,
                          (features, rois, roi_offset, 3, 3, 0.5, 2, 0.1))


def test_torch_compile_cuda():
    torch._dynamo.reset()
    layer = DeformConv2dPack(3, 4, 3, padding=1, modulated=True).cuda()
    with torch.no_grad():
        layer.conv_offset.weight.normal_(std=0.1)
    x = torch.randn(2, 3, 8, 8, device="cuda")
    compiled = torch.compile(layer, fullgraph=True)
    torch.testing.assert_close(compiled(x), layer(x), rtol=1e-4, atol=1e-4)
    compiled(x).sum().backward()
    assert layer.conv_offset.weight.grad.abs().sum() > 0


def test_modules_under_cuda_autocast_float16():
    torch.manual_seed(0)
    layer = DeformConv2dPack(4, 6, 3, padding=1, modulated=True).cuda()
    with torch.no_grad():
        layer.conv_offset.weight.normal_(std=0.3)
    x = torch.randn(2, 4, 9, 9, device="cuda", requires_grad=True)
    seen = {}
    layer.register_offset_hook(lambda module, offset, mask: seen.update(offset=offset, mask=mask))
    with torch.autocast("cuda", dtype=torch.float16):
        y = layer(x)
    assert seen["offset"].dtype == torch.float16 and y.dtype == torch.float32
    expected = deform_conv2d(x, seen["offset"].float(), layer.weight, layer.bias, padding=1,
                             mask=seen["mask"].float())
    torch.testing.assert_close(y, expected)
    y.square().mean().backward()
    assert torch.isfinite(layer.conv_offset.weight.grad).all()

    features, rois, _ = (t.float().cuda() for t in make_inputs())
    pool = DeformRoIPool(3, 3, spatial_scale=0.5, hidden_channels=16).cuda()
    with torch.autocast("cuda", dtype=torch.float16):
        pooled = pool(features, rois)
    assert pooled.dtype == torch.float32
    pooled.sum().backward()


def test_float16_weight_gradient_accumulates_in_float32_on_cuda():
    input = torch.ones(2, 1, 16, 16, dtype=torch.float16, device="cuda")
    weight = torch.ones(1, 1, 1, 1, dtype=torch.float16, device="cuda", requires_grad=True)
    offset = torch.zeros(2, 2, 16, 16, dtype=torch.float16, device="cuda")
    upstream = torch.full((2, 1, 16, 16), 300.0, dtype=torch.float16, device="cuda")
    upstream[1] = -300.0
    with column_budget(16 * 16 * 2):
        deform_conv2d(input, offset, weight).backward(upstream)
    assert weight.grad.item() == 0.0
