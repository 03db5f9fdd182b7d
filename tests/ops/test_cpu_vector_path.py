"""deform_conv2d's CPU channel loops give the same results on every vector path (baseline,
AVX2, AVX-512), and the baseline path can be forced, as on a CPU without AVX2 or AVX-512, for
deform_conv2d and dcnv3 alike (dcnv3's every-path test: tests/ops/test_dcnv3.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deformviz.ops import (CPU_VECTOR_PATHS, cpu_vector_path, deform_conv2d, operator_backend,
                           set_cpu_vector_path, use_cpu_vector_path)

from .conftest import make_conv_case

pytestmark = pytest.mark.skipif(operator_backend("cpu") != "compiled-cpu",
                                reason="vector paths belong to the compiled CPU kernels")
REPO = Path(__file__).resolve().parents[2]


def _run(case):
    tensors = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
    it = iter(tensors)
    args = [next(it) if a is not None and isinstance(a, torch.Tensor) else a for a in case.args()]
    out = deform_conv2d(*args)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape))
    return out.detach(), [t.grad for t in tensors]


# 37 and 19 channels: every vector width leaves a remainder; offset groups split the runs.
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("channels,offset_groups", [(37, 1), (38, 2), (19, 1)])
def test_every_path_gives_the_same_result(dtype, channels, offset_groups):
    case = make_conv_case(batch=2, channels=channels, size=(9, 11), out_channels=5,
                          offset_groups=offset_groups, dtype=dtype, offset_scale=2.5)
    results = {}
    for name in CPU_VECTOR_PATHS:
        with use_cpu_vector_path(name) as taken:
            results[taken] = _run(case)
    assert "baseline" in results  # every CPU can take the baseline path
    reference_out, reference_grads = results["baseline"]
    tolerance = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 1e-2}[dtype]
    for name, (out, grads) in results.items():
        # Element-wise work: the same operations in the same order on every path.
        assert torch.equal(out, reference_out), name
        assert torch.equal(grads[0], reference_grads[0]), name  # input: scatters, element-wise
        for grad, reference in zip(grads[1:], reference_grads[1:]):
            # Offset and mask gradients sum over channels: another order per vector width.
            torch.testing.assert_close(grad, reference, rtol=tolerance, atol=tolerance)


def test_paths_are_named_and_restored():
    before, widest = cpu_vector_path()
    assert before in CPU_VECTOR_PATHS and widest in CPU_VECTOR_PATHS
    with use_cpu_vector_path("baseline") as taken:
        assert taken == "baseline" and cpu_vector_path() == ("baseline", widest)
    assert cpu_vector_path()[0] == before
    with pytest.raises(ValueError, match="unknown CPU vector path"):
        set_cpu_vector_path("sse9")


def test_environment_forces_the_baseline_path():
    # What a CPU without AVX2 or AVX-512 runs: the library loads and computes on the baseline.
    code = ("import torch; from deformviz.ops import cpu_vector_path, deform_conv2d; "
            "x = torch.randn(1, 19, 6, 6, generator=torch.Generator().manual_seed(0)); "
            "w = torch.ones(3, 19, 3, 3); o = torch.full((1, 18, 6, 6), 0.3); "
            "y = deform_conv2d(x, o, w, padding=1); "
            "from deformviz.ops import dcnv3; v = x.permute(0, 2, 3, 1)[..., :16].contiguous(); "
            "z = dcnv3(v, torch.full((1, 6, 6, 18), 0.3), torch.full((1, 6, 6, 9), 0.1)); "
            "print(cpu_vector_path()[0], float(y.sum()), float(z.sum()))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    forced = subprocess.run([sys.executable, "-c", code], env=dict(env, DEFORMVIZ_CPU_VECTOR="baseline"),
                            capture_output=True, text=True, check=True).stdout.split()
    default = subprocess.run([sys.executable, "-c", code], env={k: v for k, v in env.items()
                                                               if k != "DEFORMVIZ_CPU_VECTOR"},
                             capture_output=True, text=True, check=True).stdout.split()
    assert forced[0] == "baseline"
    widest = cpu_vector_path()[1]
    # AVX2 unless asked (AVX-512 measured slower), or the widest the CPU has if narrower.
    assert default[0] == ("avx2" if widest == "avx512" else widest)
    assert forced[1:] == default[1:]  # deform_conv2d's and dcnv3's sums
