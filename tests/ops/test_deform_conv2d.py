"""deform_conv2d against the pure-PyTorch reference, F.conv2d, autograd and torch.library."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deformviz.ops import DeformConv2d, DeformConv2dPack, deform_conv2d, operator_backend, reference

from .conftest import make_conv_case

CONFIGS = {
    "plain": dict(),
    "stride2": dict(stride=(2, 2), size=(9, 9)),
    "padding0": dict(padding=(0, 0)),
    "padding_asym": dict(padding=(2, 0)),
    "dilation2": dict(dilation=(2, 2), padding=(2, 2), size=(9, 10)),
    "dilation_asym": dict(dilation=(1, 3), padding=(1, 3)),
    "kernel_1x1": dict(kernel=(1, 1), padding=(0, 0)),
    "kernel_2x3": dict(kernel=(2, 3), padding=(1, 1)),
    "kernel_5x1": dict(kernel=(5, 1), padding=(2, 0), size=(9, 6)),
    "groups2": dict(groups=2, channels=4, out_channels=6),
    "groups4_depthwise": dict(groups=4, channels=4, out_channels=4),
    "offset_groups2": dict(offset_groups=2),
    "offset_groups4_groups2": dict(offset_groups=4, groups=2, channels=8, out_channels=4),
    "no_mask": dict(with_mask=False),
    "no_bias": dict(with_bias=False),
    "huge_offsets": dict(offset_scale=12.0),
    "batch1": dict(batch=1),
    "batch_prime": dict(batch=7, size=(5, 6), channels=3, out_channels=2),
}


def grads(fn, case, upstream):
    tensors = [t.detach().clone().requires_grad_(True) for t in case.tensors()]
    it = iter(tensors)
    args = [next(it) if t is not None else None for t in
            (case.input, case.offset, case.weight, case.bias, case.mask)]
    out = fn(args[0], args[1], args[2], args[3], case.stride, case.padding, case.dilation, args[4])
    return out, torch.autograd.grad((out * upstream).sum(), tensors)


def assert_matches_reference(case, tolerance):
    """Output and every input gradient of the op equal the reference's, in float64."""
    upstream = torch.randn(deform_conv2d(*case.args()).shape, dtype=torch.float64)
    ours, our_grads = grads(deform_conv2d, case, upstream)
    expected, expected_grads = grads(reference.deform_conv2d, case, upstream)
    torch.testing.assert_close(ours, expected, rtol=tolerance, atol=tolerance)
    for got, want in zip(our_grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=10 * tolerance, atol=10 * tolerance)


@pytest.mark.parametrize("name", CONFIGS)
def test_values_and_gradients_match_reference(name):
    assert_matches_reference(make_conv_case(**CONFIGS[name]), 1e-10)


def test_samples_on_integer_positions_and_borders():
    """Offsets that land exactly on pixels, and on the -1 / H and -1 / W borders."""
    case = make_conv_case(batch=1, channels=2, size=(5, 6), kernel=(3, 3), padding=(1, 1))
    choices = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0, -1.5, 4.0, 5.0, 6.0], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    pick = torch.randint(0, len(choices), case.offset.shape, generator=generator)
    case.offset = choices[pick]
    assert_matches_reference(case, 1e-12)


def test_border_rule_is_zero_padding():
    """A single pixel image: samples at y in (-1, 1) see it with weight 1 - |y|, none beyond."""
    image = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    weight = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    for shift, expected in [(-1.0, 0.0), (-0.75, 0.25), (0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]:
        offset = torch.tensor([shift, 0.0], dtype=torch.float64).view(1, 2, 1, 1)
        value = deform_conv2d(image, offset, weight).item()
        assert value == pytest.approx(expected), shift


def test_large_offsets_leaving_the_image_read_zero():
    case = make_conv_case(with_bias=False)
    case.offset = torch.full_like(case.offset, 100.0)
    assert deform_conv2d(*case.args()).abs().max().item() == 0.0


@pytest.mark.parametrize("kw", [dict(), dict(stride=(2, 1), padding=(0, 2), dilation=(2, 1)),
                                dict(groups=2, out_channels=4)])
def test_zero_offsets_and_unit_mask_equal_conv2d(kw):
    case = make_conv_case(**kw)
    case.offset = torch.zeros_like(case.offset)
    case.mask = torch.ones_like(case.mask)
    groups = case.input.shape[1] // case.weight.shape[1]
    expected = F.conv2d(case.input, case.weight, case.bias, case.stride, case.padding,
                        case.dilation, groups)
    torch.testing.assert_close(deform_conv2d(*case.args()), expected)


def test_empty_batch():
    case = make_conv_case(batch=0)
    case.input.requires_grad_(True)
    case.offset.requires_grad_(True)
    out = deform_conv2d(*case.args())
    assert out.shape == (0, 6, 7, 8)
    out.sum().backward()
    assert case.input.grad.shape == case.input.shape


def test_non_contiguous_inputs():
    case = make_conv_case()
    expected = deform_conv2d(*case.args())
    case.input = case.input.transpose(2, 3).contiguous().transpose(2, 3)
    case.offset = case.offset.contiguous(memory_format=torch.channels_last)
    case.weight = case.weight.transpose(0, 1).contiguous().transpose(0, 1)
    assert not case.input.is_contiguous() and not case.weight.is_contiguous()
    torch.testing.assert_close(deform_conv2d(*case.args()), expected)


def test_float32_matches_float64():
    case = make_conv_case()
    expected = deform_conv2d(*case.args())
    as32 = [t.float() if isinstance(t, torch.Tensor) else t for t in case.args()]
    torch.testing.assert_close(deform_conv2d(*as32), expected.float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("with_mask", [True, False])
def test_gradcheck(with_mask):
    case = make_conv_case(batch=2, channels=2, size=(4, 5), out_channels=2, with_mask=with_mask,
                          offset_groups=2)
    # Keep sampling positions away from integers, where bilinear weights have kinks.
    case.offset = case.offset.round() + 0.37
    tensors = [t.requires_grad_(True) for t in case.tensors()]

    def fn(*ts):
        it = iter(ts)
        args = [next(it) if t is not None else None for t in
                (case.input, case.offset, case.weight, case.bias, case.mask)]
        return deform_conv2d(args[0], args[1], args[2], args[3], case.stride, case.padding,
                             case.dilation, args[4])

    assert torch.autograd.gradcheck(fn, tensors)


def test_opcheck():
    for with_mask, with_bias in [(True, True), (False, False)]:
        case = make_conv_case(batch=2, channels=2, size=(4, 4), out_channels=2,
                              with_mask=with_mask, with_bias=with_bias)
        for t in case.tensors():
            t.requires_grad_(True)
        torch.library.opcheck(torch.ops.deformviz.deform_conv2d.default,
                              (case.input, case.weight, case.offset, case.mask, case.bias,
                               1, 1, 1, 1, 1, 1))


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    layer = DeformConv2dPack(3, 4, 3, padding=1, modulated=True).double()
    with torch.no_grad():
        layer.conv_offset.weight.normal_(std=0.1)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), layer(x))
    compiled(x).sum().backward()
    assert layer.conv_offset.weight.grad.abs().sum() > 0


def test_torch_export():
    layer = DeformConv2dPack(2, 2, 3, padding=1).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    exported = torch.export.export(layer, (x,))
    assert any("deformviz.deform_conv2d" in str(node.target) for node in exported.graph.nodes)
    torch.testing.assert_close(exported.module()(x), layer(x))


@pytest.mark.parametrize("mutate, message", [
    (lambda c: setattr(c, "input", c.input[0]), "input must be 4-D"),
    (lambda c: setattr(c, "offset", c.offset[:, :-1]), "offset.shape[1]"),
    (lambda c: setattr(c, "offset", c.offset[:, :, :-1]), "offset must have shape"),
    (lambda c: setattr(c, "mask", c.mask[:, :-1]), "mask must have shape"),
    (lambda c: setattr(c, "bias", c.bias[:-1]), "bias must have shape"),
    (lambda c: setattr(c, "weight", c.weight.float()), "weight has dtype"),
    (lambda c: setattr(c, "weight", c.weight[:, :3]), "weight of shape"),
    (lambda c: setattr(c, "stride", (0, 1)), "stride"),
    (lambda c: setattr(c, "input", c.input.int()), "input has unsupported dtype"),
])
def test_bad_arguments_name_the_argument(mutate, message):
    case = make_conv_case()
    mutate(case)
    with pytest.raises((ValueError, TypeError), match=message.replace("[", r"\[")):
        deform_conv2d(*case.args())


def test_the_compiled_op_checks_arguments_too():
    case = make_conv_case()
    with pytest.raises(ValueError, match="offset must have shape"):
        torch.ops.deformviz.deform_conv2d(case.input, case.weight, case.offset[:, :, :-1], None,
                                          None, 1, 1, 1, 1, 1, 1)


def test_module_starts_as_a_regular_convolution_and_reports_its_offsets():
    layer = DeformConv2dPack(3, 5, 3, padding=2, dilation=2, modulated=True).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    expected = F.conv2d(x, layer.weight, layer.bias, padding=2, dilation=2)
    seen = []
    handle = layer.register_offset_hook(lambda module, offset, mask: seen.append((offset, mask)))
    torch.testing.assert_close(layer(x), 0.5 * (expected - layer.bias.view(1, -1, 1, 1))
                               + layer.bias.view(1, -1, 1, 1))  # mask starts at sigmoid(0)
    offset, mask = seen[0]
    assert offset.shape == (2, 18, 8, 8) and mask.shape == (2, 9, 8, 8)
    assert offset.abs().max() == 0 and torch.all(mask == 0.5)
    handle.remove()
    layer(x)
    assert len(seen) == 1


def test_module_hook_sees_exactly_the_offsets_used():
    layer = DeformConv2dPack(2, 2, 3, padding=1).double()
    with torch.no_grad():
        layer.conv_offset.weight.normal_()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    seen = {}
    layer.register_offset_hook(lambda module, offset, mask: seen.update(offset=offset, mask=mask))
    y = layer(x)
    assert seen["mask"] is None
    torch.testing.assert_close(y, deform_conv2d(x, seen["offset"], layer.weight, layer.bias,
                                                padding=1))


def test_backend_is_compiled_here():
    """The project builds its kernels; falling back silently would hide a broken build."""
    assert operator_backend("cpu") == "compiled-cpu"


def test_module_taking_offsets_matches_the_pack_and_the_functional():
    """DeformConv2d(input, offset, mask) is torchvision's module; DeformConv2dPack predicts its
    offsets and runs the same operator on them."""
    torch.manual_seed(0)
    pack = DeformConv2dPack(3, 4, 3, padding=1, offset_groups=1, modulated=True).double()
    torch.nn.init.normal_(pack.conv_offset.weight, std=0.1)
    plain = DeformConv2d(3, 4, 3, padding=1).double()
    plain.load_state_dict({k: v for k, v in pack.state_dict().items() if "conv_offset" not in k})
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    offset, mask = pack.predict_offsets(x)
    seen = []
    plain.register_offset_hook(lambda module, **tensors: seen.append(tensors))
    expected = deform_conv2d(x, offset, pack.weight, pack.bias, 1, 1, 1, mask)
    torch.testing.assert_close(plain(x, offset, mask), expected, rtol=0, atol=0)
    torch.testing.assert_close(pack(x), expected, rtol=0, atol=0)
    assert seen[0]["offset"] is offset and seen[0]["mask"] is mask
    with pytest.raises(TypeError, match="DeformConv2dPack"):
        plain(x)
