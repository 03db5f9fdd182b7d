"""dcnv3 against a float64 oracle of plain loops, the pure-PyTorch references (deformviz's and
InternImage's published grid_sample formulation), autograd, torch.library and torch.compile."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from deformviz.ops import dcnv3, operator_backend, reference_dcnv3


@dataclass
class Dcnv3Case:
    input: torch.Tensor
    offset: torch.Tensor
    mask: torch.Tensor
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    offset_scale: float

    def geometry(self) -> tuple:
        return (self.kernel, self.stride, self.padding, self.dilation, self.groups,
                self.offset_scale)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.input, self.offset, self.mask


def make_case(batch=2, size=(6, 7), groups=2, per_group=3, kernel=(3, 3), stride=(1, 1),
              padding=(1, 1), dilation=(1, 1), offset_scale=1.0, spread=1.5,
              dtype=torch.float64, seed=0) -> Dcnv3Case:
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    out_h = (height + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    taps = kernel[0] * kernel[1]
    input = torch.randn(batch, height, width, groups * per_group, generator=generator, dtype=dtype)
    offset = torch.randn(batch, out_h, out_w, groups * taps * 2, generator=generator,
                         dtype=dtype) * spread
    logits = torch.randn(batch, out_h, out_w, groups, taps, generator=generator, dtype=dtype)
    mask = logits.softmax(-1).flatten(-2)  # as InternImage's module hands it to its core
    return Dcnv3Case(input, offset, mask, kernel, stride, padding, dilation, groups, offset_scale)


def run(case: Dcnv3Case, fn=None) -> torch.Tensor:
    if fn is None:
        (kernel, stride, padding, dilation, groups, scale) = case.geometry()
        return dcnv3(*case.tensors(), kernel, stride, padding, dilation, groups, scale)
    return fn(*case.tensors(), *case.geometry())


def oracle(case: Dcnv3Case) -> torch.Tensor:
    """Plain loops over every output element, written from the formula alone:
    x = ox * sw - pw + cx + s * (i * dw - cx + dx) for point p = i * kh + j (i the x index),
    bilinear with each neighbour outside the image reading 0."""
    inp = case.input.tolist()
    off = case.offset.tolist()
    msk = case.mask.tolist()
    batch, height, width, channels = case.input.shape
    _, out_h, out_w, _ = case.offset.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = case.kernel, case.stride, case.padding, case.dilation
    groups, scale = case.groups, case.offset_scale
    per_group = channels // groups
    cx, cy = dw * (kw - 1) // 2, dh * (kh - 1) // 2

    def pixel(n, yy, xx, c):
        return inp[n][yy][xx][c] if 0 <= yy < height and 0 <= xx < width else 0.0

    out = [[[[0.0] * channels for _ in range(out_w)] for _ in range(out_h)] for _ in range(batch)]
    for n in range(batch):
        for oy in range(out_h):
            for ox in range(out_w):
                for g in range(groups):
                    for i in range(kw):
                        for j in range(kh):
                            p = i * kh + j
                            dx = off[n][oy][ox][(g * kh * kw + p) * 2]
                            dy = off[n][oy][ox][(g * kh * kw + p) * 2 + 1]
                            m = msk[n][oy][ox][g * kh * kw + p]
                            x = ox * sw - pw + cx + scale * (i * dw - cx + dx)
                            y = oy * sh - ph + cy + scale * (j * dh - cy + dy)
                            x0, y0 = math.floor(x), math.floor(y)
                            lx, ly = x - x0, y - y0
                            for c in range(g * per_group, (g + 1) * per_group):
                                value = ((1 - ly) * (1 - lx) * pixel(n, y0, x0, c)
                                         + (1 - ly) * lx * pixel(n, y0, x0 + 1, c)
                                         + ly * (1 - lx) * pixel(n, y0 + 1, x0, c)
                                         + ly * lx * pixel(n, y0 + 1, x0 + 1, c))
                                out[n][oy][ox][c] += m * value
    return torch.tensor(out, dtype=torch.float64).reshape(batch, out_h, out_w, channels)


CONFIGS = {
    "internimage": dict(),
    "groups1": dict(groups=1, per_group=4),
    "groups4_one_channel_each": dict(groups=4, per_group=1),
    "stride2": dict(stride=(2, 2), size=(9, 8)),
    "padding0": dict(padding=(0, 0)),
    "dilation2": dict(dilation=(2, 2), padding=(2, 2), size=(8, 9)),
    "offset_scale2": dict(offset_scale=2.0),
    "offset_scale_half": dict(offset_scale=0.5),
    "kernel_3x5": dict(kernel=(3, 5), padding=(1, 2)),
    "kernel_5x5": dict(kernel=(5, 5), padding=(2, 2)),
    "kernel_1x1": dict(kernel=(1, 1), padding=(0, 0)),
    "huge_offsets": dict(spread=9.0),
    "batch1": dict(batch=1),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_values_match_the_loop_oracle(name):
    case = make_case(**CONFIGS[name])
    torch.testing.assert_close(run(case), oracle(case), rtol=1e-12, atol=1e-12)


def gradients(case: Dcnv3Case, fn, upstream):
    tensors = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
    out = fn(*tensors, *case.geometry())
    # An empty map leaves the reference's output unconnected to its input: a zero gradient.
    return out, torch.autograd.grad((out * upstream).sum(), tensors, allow_unused=True,
                                    materialize_grads=True)


def compiled(input, offset, mask, kernel, stride, padding, dilation, groups, scale):
    return dcnv3(input, offset, mask, kernel, stride, padding, dilation, groups, scale)


def assert_matches(case: Dcnv3Case, fn, tolerance: float) -> None:
    upstream = torch.randn(run(case).shape, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(3))
    ours, our_grads = gradients(case, compiled, upstream)
    want, want_grads = gradients(case, fn, upstream)
    torch.testing.assert_close(ours, want, rtol=tolerance, atol=tolerance)
    for name, got, expected in zip(("input", "offset", "mask"), our_grads, want_grads):
        torch.testing.assert_close(got, expected, rtol=10 * tolerance, atol=10 * tolerance,
                                   msg=lambda text: f"grad {name}: {text}")


@pytest.mark.parametrize("name", CONFIGS)
def test_values_and_gradients_match_the_reference(name):
    assert_matches(make_case(**CONFIGS[name]), reference_dcnv3.dcnv3, 1e-10)


@pytest.mark.parametrize("name", ["internimage", "stride2", "dilation2", "offset_scale2",
                                  "kernel_3x5", "huge_offsets"])
def test_values_and_gradients_match_the_published_formulation(name):
    """InternImage's dcnv3_core_pytorch semantics (F.grid_sample on the padded input); random
    offsets never land exactly on a pixel, where grid_sample's border gradient differs."""
    assert_matches(make_case(**CONFIGS[name]), reference_dcnv3.dcnv3_grid_sample, 1e-10)


def test_integer_positions_and_borders_match_the_reference():
    case = make_case(batch=1, size=(4, 5))
    choices = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0, -1.5, 3.0, 4.0, 5.0], dtype=torch.float64)
    pick = torch.randint(0, len(choices), case.offset.shape, generator=torch.Generator().manual_seed(1))
    case.offset = choices[pick]
    assert_matches(case, reference_dcnv3.dcnv3, 1e-12)


def test_gradcheck():
    case = make_case(batch=1, size=(4, 3), groups=2, per_group=2, offset_scale=1.5)
    tensors = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
    assert torch.autograd.gradcheck(lambda *t: compiled(*t, *case.geometry()), tensors)


def one_hot_mask(case: Dcnv3Case, point: int) -> torch.Tensor:
    taps = case.kernel[0] * case.kernel[1]
    mask = torch.zeros_like(case.mask).unflatten(-1, (case.groups, taps))
    mask[..., point] = 1
    return mask.flatten(-2)


def shifted(input: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[:, y, x] = input[:, y + dy, x + dx], 0 outside."""
    out = torch.zeros_like(input)
    height, width = input.shape[1:3]
    ys, xs = slice(max(0, -dy), min(height, height - dy)), slice(max(0, -dx), min(width, width - dx))
    ys_in = slice(ys.start + dy, ys.stop + dy)
    xs_in = slice(xs.start + dx, xs.stop + dx)
    out[:, ys, xs] = input[:, ys_in, xs_in]
    return out


def test_point_order_has_x_as_the_outer_index():
    """Zero offsets: point p = i * 3 + j reads the pixel (x - 1 + i, y - 1 + j)."""
    case = make_case(batch=1, size=(5, 6))
    case.offset = torch.zeros_like(case.offset)
    for point in range(9):
        i, j = divmod(point, 3)
        case.mask = one_hot_mask(case, point)
        torch.testing.assert_close(run(case), shifted(case.input, j - 1, i - 1), msg=str(point))


def test_offsets_are_x_then_y_and_offset_scale_scales_the_grid():
    case = make_case(batch=1, size=(6, 7), groups=1, per_group=2, offset_scale=2.0)
    case.mask = one_hot_mask(case, 0)  # i = j = 0: grid (-1, -1), times the scale
    offset = torch.zeros_like(case.offset).unflatten(-1, (9, 2))
    offset[..., 0] = 1.5  # dx: scaled to 3 cells
    case.offset = offset.flatten(-2)
    torch.testing.assert_close(run(case), shifted(case.input, -2, -2 + 3))


def test_each_group_uses_its_own_channels_offsets_and_mask():
    case = make_case(batch=1, size=(5, 5), groups=2, per_group=2)
    offset = torch.zeros_like(case.offset).unflatten(-1, (2, 9, 2))
    offset[..., 1, :, 1] = 1.0  # group 1 samples one row lower
    case.offset = offset.flatten(-3)
    mask = torch.zeros_like(case.mask).unflatten(-1, (2, 9))
    mask[..., 0, 4] = 1.0  # group 0: centre only
    mask[..., 1, 4] = 0.5
    case.mask = mask.flatten(-2)
    out = run(case)
    torch.testing.assert_close(out[..., :2], case.input[..., :2])
    torch.testing.assert_close(out[..., 2:], 0.5 * shifted(case.input, 1, 0)[..., 2:])


def test_groups_are_inferred_from_the_offsets():
    case = make_case(groups=3, per_group=2)
    torch.testing.assert_close(dcnv3(*case.tensors()), run(case))


def test_non_finite_inputs_match_the_reference():
    case = make_case(batch=1)
    case.input[0, 2, 3, 1] = math.inf
    case.input[0, 4, 0, 4] = math.nan
    upstream = torch.randn(run(case).shape, dtype=torch.float64)
    ours, our_grads = gradients(case, compiled, upstream)
    want, want_grads = gradients(case, reference_dcnv3.dcnv3, upstream)
    torch.testing.assert_close(ours, want, equal_nan=True)
    for got, expected in zip(our_grads, want_grads):
        torch.testing.assert_close(got, expected, equal_nan=True)


@pytest.mark.parametrize("threads", [1, 3])
def test_results_do_not_depend_on_the_thread_count(threads):
    case = make_case(batch=1, size=(9, 9), groups=2, per_group=4)
    upstream = torch.randn(run(case).shape, dtype=torch.float64)
    want, want_grads = gradients(case, compiled, upstream)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got, got_grads = gradients(case, compiled, upstream)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-5), (torch.float16, 4e-3),
                                             (torch.bfloat16, 3e-2)])
def test_lower_precision_against_float64(dtype, tolerance):
    """Inputs rounded to the dtype first, so float64 sees the same values; errors relative to
    the largest magnitude."""
    case = make_case(batch=2, size=(7, 6), groups=2, per_group=8)
    low = [t.to(dtype).requires_grad_(True) for t in case.tensors()]
    exact = [t.detach().double().requires_grad_(True) for t in low]
    out_low = compiled(*low, *case.geometry())
    out_exact = compiled(*exact, *case.geometry())
    assert out_low.dtype == dtype
    upstream = torch.randn(out_exact.shape, dtype=torch.float64)
    grads_low = torch.autograd.grad((out_low.double() * upstream).sum(), low)
    grads_exact = torch.autograd.grad((out_exact * upstream).sum(), exact)
    for name, got, want in [("output", out_low, out_exact)] + list(zip(("input", "offset", "mask"), grads_low, grads_exact)):
        assert got.dtype == dtype
        scale = want.abs().max().item()
        error = (got.double() - want).abs().max().item()
        assert scale > 0 and error <= 4 * tolerance * scale, f"{name}: {error} vs {scale}"


@pytest.mark.parametrize("per_group", [16, 5, 37])
@pytest.mark.parametrize("name", ["internimage", "stride2", "dilation2", "huge_offsets"])
def test_float32_passes_match_float64(name, per_group):
    """float32 runs its own code path on the CPU (compiled for the CPU's vector extension):
    a group of 16 channels is InternImage's, 5 and 37 leave vector remainders."""
    case = make_case(**{**CONFIGS[name], "per_group": per_group})
    rounded = [t.float().double() for t in case.tensors()]
    exact = [t.clone().requires_grad_(True) for t in rounded]
    single = [t.float().requires_grad_(True) for t in rounded]
    out_exact = compiled(*exact, *case.geometry())
    out_single = compiled(*single, *case.geometry())
    upstream = torch.randn(out_exact.shape, dtype=torch.float64)
    out_exact.backward(upstream)
    out_single.backward(upstream.float())
    torch.testing.assert_close(out_single.double(), out_exact.detach(), rtol=1e-5, atol=1e-5)
    for a, b in zip(single, exact):
        torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(operator_backend("cpu") != "compiled-cpu",
                    reason="vector paths belong to the compiled CPU kernels")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("per_group", [16, 5, 37])
@pytest.mark.parametrize("name", ["internimage", "stride2", "huge_offsets"])
def test_every_vector_path_gives_the_same_result(name, per_group, dtype):
    """dcnv3 takes the vector path deform_conv2d takes (deformviz.ops.use_cpu_vector_path):
    forcing each one runs that path's code, and all agree. 5 and 37 channels per group leave a
    remainder at every vector width."""
    from deformviz.ops import CPU_VECTOR_PATHS, use_cpu_vector_path

    case = make_case(**{**CONFIGS[name], "per_group": per_group, "dtype": dtype})
    upstream = torch.linspace(-1, 1, math.prod(run(case).shape), dtype=dtype).reshape(run(case).shape)
    results = {}
    for path in CPU_VECTOR_PATHS:
        with use_cpu_vector_path(path) as taken:
            results[taken] = gradients(case, compiled, upstream)
    assert "baseline" in results  # every CPU can take the baseline path
    reference_out, reference_grads = results["baseline"]
    tolerance = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 1e-2}[dtype]
    for path, (out, grads) in results.items():
        # Each output channel sums its points in one order on every path (no fused multiply-add:
        # -ffp-contract=off), and the input gradient is element-wise scatters: identical.
        assert torch.equal(out, reference_out), path
        assert torch.equal(grads[0], reference_grads[0]), path
        for grad, reference in zip(grads[1:], reference_grads[1:]):
            # Offset and mask gradients sum over channels: another order per vector width.
            torch.testing.assert_close(grad, reference, rtol=tolerance, atol=tolerance)


def test_autocast_accepts_mixed_dtypes_and_computes_in_float32():
    case = make_case(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = dcnv3(case.input, case.offset.bfloat16(), case.mask.bfloat16(), groups=case.groups)
    assert out.dtype == torch.float32
    want = dcnv3(case.input, case.offset.bfloat16().float(), case.mask.bfloat16().float(),
                 groups=case.groups)
    torch.testing.assert_close(out, want)


@pytest.mark.skipif(operator_backend("cpu") == "reference", reason="needs the compiled library")
def test_opcheck():
    case = make_case(batch=1, size=(4, 5), dtype=torch.float32)
    tensors = [t.requires_grad_(True) for t in case.tensors()]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups, scale = case.geometry()
    torch.library.opcheck(torch.ops.deformviz.dcnv3.default,
                          (*tensors, kh, kw, sh, sw, ph, pw, dh, dw, groups, scale))


@pytest.mark.skipif(operator_backend("cpu") == "reference", reason="needs the compiled library")
def test_torch_compile_fullgraph_uses_the_fake_kernel():
    case = make_case(batch=1, size=(5, 5), dtype=torch.float32, offset_scale=2.0)
    fn = torch.compile(compiled, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(fn(*case.tensors(), *case.geometry()), run(case))


@pytest.mark.parametrize("kw", [dict(batch=0), dict(per_group=0), dict(size=(0, 3), padding=(2, 1)),
                                dict(size=(1, 1)), dict(size=(2, 3), kernel=(5, 5), padding=(2, 2))])
def test_empty_and_tiny_shapes_match_the_reference(kw):
    case = make_case(**kw)
    assert_matches(case, reference_dcnv3.dcnv3, 1e-10)
    assert run(case).shape == reference_dcnv3.dcnv3(*case.tensors(), *case.geometry()).shape


BAD = {
    "offset channels": (dict(), lambda c: (c.input, c.offset[..., :-2], c.mask), "offset must have shape"),
    "mask channels": (dict(), lambda c: (c.input, c.offset, c.mask[..., :-1]), "mask must have shape"),
    "NCHW input": (dict(), lambda c: (c.input.permute(0, 3, 1, 2), c.offset, c.mask), "divid|offset must"),
    "3-D input": (dict(), lambda c: (c.input[0], c.offset, c.mask), "input must be 4-D"),
    "dtype": (dict(), lambda c: (c.input, c.offset.float(), c.mask), "offset has dtype"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_shapes_are_one_line_errors(name):
    kw, mangle, message = BAD[name]
    case = make_case(**kw)
    with pytest.raises((ValueError, TypeError), match=message) as error:
        dcnv3(*mangle(case), groups=case.groups)
    assert "\n" not in str(error.value)


def test_groups_that_do_not_divide_the_channels_are_one_line_errors():
    case = make_case(groups=2, per_group=3)
    with pytest.raises(ValueError, match="groups=4 must be a positive int dividing") as error:
        dcnv3(*case.tensors(), groups=4)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        dcnv3(*make_case(size=(2, 2), padding=(0, 0)).tensors(), padding=0, groups=2)


@pytest.mark.skipif(operator_backend("cpu") == "reference", reason="needs the compiled library")
def test_the_compiled_op_checks_its_arguments_too():
    case = make_case()
    with pytest.raises(ValueError, match="dcnv3: mask must have shape"):
        torch.ops.deformviz.dcnv3(case.input, case.offset, case.mask[..., :-1], 3, 3, 1, 1, 1, 1,
                                  1, 1, 2, 1.0)
    with pytest.raises(ValueError, match="groups = 5 must be positive and divide"):
        torch.ops.deformviz.dcnv3(case.input, case.offset, case.mask, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1.0)


def test_without_the_compiled_library_the_reference_runs_with_a_warning(monkeypatch):
    from deformviz.ops import _extension

    case = make_case()
    compiled_result = run(case)
    monkeypatch.setattr(_extension, "_compiled", None)
    monkeypatch.setattr(_extension, "_load_error", "ImportError: simulated")
    monkeypatch.setattr(_extension, "_warned", set())
    with pytest.warns(RuntimeWarning, match="simulated"):
        fallback = run(case)
    torch.testing.assert_close(fallback, compiled_result, rtol=1e-12, atol=1e-12)
