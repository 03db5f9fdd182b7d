"""dcnv3's CUDA kernels against float64 CPU results on the same inputs. Needs a GPU:
`pytest -m cuda tests/ops` runs only these. Half-precision runs get inputs rounded to their dtype
first, and tolerances are relative to the reference's largest magnitude."""

from __future__ import annotations

import pytest
import torch

from deformviz.ops import dcnv3, dcnv4, operator_backend

from .test_cuda import DTYPE_IDS, DTYPES, assert_close_scaled
from .test_dcnv3 import CONFIGS, make_case

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def check_against_cpu(case, dtype, rtol, transform=lambda t: t):
    """Forward and every gradient on CUDA in `dtype` against float64 on the CPU."""
    rounded = [t.to(dtype).double() for t in case.tensors()]
    cpu = [t.clone().requires_grad_(True) for t in rounded]
    gpu = [transform(t.to("cuda", dtype)).requires_grad_(True) for t in rounded]
    out_cpu = dcnv3(*cpu, *case.geometry())
    out_gpu = dcnv3(*gpu, *case.geometry())
    assert out_gpu.dtype == dtype and out_gpu.is_cuda
    upstream = torch.randn(out_cpu.shape, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(2)).to(dtype).double()
    out_cpu.backward(upstream)
    out_gpu.backward(upstream.to("cuda", dtype))
    assert_close_scaled(out_gpu, out_cpu.detach(), rtol, "output")
    for name, a, b in zip(("input", "offset", "mask"), gpu, cpu):
        assert a.grad.dtype == dtype
        assert_close_scaled(a.grad, b.grad, 4 * rtol, f"gradient of {name}")


def test_compiled_cuda_backend():
    assert operator_backend("cuda") == "compiled-cuda"


@pytest.mark.parametrize("dtype, rtol", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", CONFIGS)
def test_dcnv3_cuda_matches_cpu_float64(name, dtype, rtol):
    check_against_cpu(make_case(**CONFIGS[name]), dtype, rtol)


def test_dcnv3_cuda_internimage_stage_and_non_contiguous_inputs():
    case = make_case(batch=2, size=(14, 14), groups=8, per_group=16)
    check_against_cpu(case, torch.float32, 1e-5,
                      transform=lambda t: t.transpose(1, 2).contiguous().transpose(1, 2))


def test_dcnv3_cuda_empty_shapes():
    for kw in (dict(batch=0), dict(per_group=0), dict(size=(0, 3), padding=(2, 1))):
        case = make_case(**kw)
        tensors = [t.cuda().requires_grad_(True) for t in case.tensors()]
        out = dcnv3(*tensors, *case.geometry())
        assert out.shape == dcnv3(*case.tensors(), *case.geometry()).shape
        out.sum().backward()
        assert all(t.grad.shape == t.shape for t in tensors)
    torch.cuda.synchronize()


def test_dcnv4_cuda_matches_cpu():
    generator = torch.Generator().manual_seed(4)
    input = torch.randn(2, 6, 7, 16, generator=generator)
    offset_mask = torch.randn(2, 6, 7, 112, generator=generator)
    want = dcnv4(input, offset_mask, groups=4, offset_scale=0.5)
    got = dcnv4(input.cuda(), offset_mask.cuda(), groups=4, offset_scale=0.5)
    assert_close_scaled(got, want.double(), 1e-5, "output")


def test_dcnv3_cuda_torch_compile():
    case = make_case(batch=1, size=(5, 5), dtype=torch.float32)
    tensors = [t.cuda() for t in case.tensors()]
    fn = torch.compile(lambda *t: dcnv3(*t, *case.geometry()), fullgraph=True)
    torch.testing.assert_close(fn(*tensors), dcnv3(*tensors, *case.geometry()))
