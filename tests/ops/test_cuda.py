"""CUDA kernels against the CPU kernels in every supported dtype. Needs a GPU:
`pytest -m cuda tests/ops` runs only these."""

from __future__ import annotations

import pytest
import torch

from deformviz.ops import deform_conv2d, deform_roi_pool, operator_backend

from .conftest import make_conv_case
from .test_deform_roi_pool import make_inputs

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# (dtype, rtol, atol) for outputs and gradients relative to the float64 CPU result.
DTYPES = [(torch.float64, 1e-10, 1e-10), (torch.float32, 1e-4, 1e-4),
          (torch.float16, 2e-2, 2e-2), (torch.bfloat16, 8e-2, 8e-2)]


def test_compiled_cuda_backend():
    assert operator_backend("cuda") == "compiled-cuda"


@pytest.mark.parametrize("dtype, rtol, atol", DTYPES)
@pytest.mark.parametrize("kw", [dict(), dict(offset_groups=2, groups=2, stride=(2, 1),
                                             size=(11, 9), with_mask=False),
                                dict(batch=5, channels=40, out_channels=8, dilation=(2, 2),
                                     padding=(2, 2))])
def test_deform_conv2d_cuda_matches_cpu(dtype, rtol, atol, kw):
    case = make_conv_case(**kw)
    scale = {torch.float16: 1.0, torch.bfloat16: 1.0}.get(dtype, 1.0)
    cpu = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
    gpu = [t.detach().clone().to("cuda", dtype).requires_grad_(True) for t in case.tensors()]

    def call(ts):
        it = iter(ts)
        args = [next(it) if t is not None else None for t in
                (case.input, case.offset, case.weight, case.bias, case.mask)]
        return deform_conv2d(args[0], args[1], args[2], args[3], case.stride, case.padding,
                             case.dilation, args[4])

    out_cpu, out_gpu = call(cpu), call(gpu)
    upstream = torch.randn_like(out_cpu) * scale
    out_cpu.backward(upstream)
    out_gpu.backward(upstream.to("cuda", dtype))
    torch.testing.assert_close(out_gpu.double().cpu(), out_cpu.detach(), rtol=rtol, atol=atol * 10)
    for a, b in zip(gpu, cpu):
        torch.testing.assert_close(a.grad.double().cpu(), b.grad, rtol=rtol * 10, atol=atol * 50)


@pytest.mark.parametrize("dtype, rtol, atol", DTYPES)
def test_deform_roi_pool_cuda_matches_cpu(dtype, rtol, atol):
    features, rois, offset = make_inputs(num_rois=6, channels=20)
    cpu = [features.clone().requires_grad_(True), offset.clone().requires_grad_(True)]
    gpu = [t.detach().to("cuda", dtype).requires_grad_(True) for t in cpu]
    out_cpu = deform_roi_pool(cpu[0], rois, cpu[1], output_size=3, spatial_scale=0.5)
    out_gpu = deform_roi_pool(gpu[0], rois.to("cuda", dtype), gpu[1], output_size=3,
                              spatial_scale=0.5)
    upstream = torch.randn_like(out_cpu)
    out_cpu.backward(upstream)
    out_gpu.backward(upstream.to("cuda", dtype))
    torch.testing.assert_close(out_gpu.double().cpu(), out_cpu.detach(), rtol=rtol, atol=atol * 10)
    for a, b in zip(gpu, cpu):
        torch.testing.assert_close(a.grad.double().cpu(), b.grad, rtol=rtol * 10, atol=atol * 50)


def test_large_batch_crosses_chunks_on_cuda():
    case = make_conv_case(batch=3, channels=4, size=(64, 64), dtype=torch.float32)
    cpu = deform_conv2d(*case.args())
    gpu_args = [t.cuda() if isinstance(t, torch.Tensor) else t for t in case.args()]
    torch.testing.assert_close(deform_conv2d(*gpu_args).cpu(), cpu, rtol=1e-4, atol=1e-4)
