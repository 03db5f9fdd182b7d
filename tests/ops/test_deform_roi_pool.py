"""deform_roi_pool against the pure-PyTorch reference, autograd and torch.library."""

from __future__ import annotations

import pytest
import torch

from deformviz.ops import DeformRoIPool, deform_roi_pool, reference


def make_inputs(num_rois=5, batch=2, channels=3, size=(10, 12), scale=0.5, seed=0,
                dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, channels, *size, generator=generator, dtype=dtype)
    height, width = size[0] / scale, size[1] / scale
    xy = torch.rand(num_rois, 2, generator=generator, dtype=dtype) * torch.tensor([width, height], dtype=dtype)
    wh = torch.rand(num_rois, 2, generator=generator, dtype=dtype) * torch.tensor([width, height], dtype=dtype) * 0.7 + 1
    index = torch.randint(0, batch, (num_rois, 1), generator=generator).to(dtype)
    rois = torch.cat([index, xy - wh / 2, xy + wh / 2], dim=1)
    offset = torch.randn(num_rois, 2, 3, 3, generator=generator, dtype=dtype)
    return features, rois, offset


CONFIGS = {
    "adaptive_sampling": dict(sampling_ratio=0),
    "sampling_ratio2": dict(sampling_ratio=2),
    "no_offset": dict(use_offset=False),
    "scale1": dict(spatial_scale=1.0),
    "gamma_large": dict(gamma=1.0),
}


def run(fn, features, rois, offset, sampling_ratio=0, spatial_scale=0.5, gamma=0.1,
        output_size=(3, 3)):
    if fn is reference.deform_roi_pool:
        return fn(features, rois, offset, output_size, spatial_scale, sampling_ratio, gamma)
    return fn(features, rois, offset, output_size=output_size, spatial_scale=spatial_scale,
              sampling_ratio=sampling_ratio, gamma=gamma)


@pytest.mark.parametrize("name", CONFIGS)
def test_values_and_gradients_match_reference(name):
    kw = dict(CONFIGS[name])
    use_offset = kw.pop("use_offset", True)
    features, rois, offset = make_inputs(scale=kw.get("spatial_scale", 0.5))
    results = []
    for fn in (deform_roi_pool, reference.deform_roi_pool):
        f = features.clone().requires_grad_(True)
        o = offset.clone().requires_grad_(True) if use_offset else None
        out = run(fn, f, rois, o, **kw)
        upstream = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        inputs = [f] + ([o] if use_offset else [])
        results.append((out, torch.autograd.grad((out * upstream).sum(), inputs)))
    (ours, our_grads), (expected, expected_grads) = results
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-10)
    for got, want in zip(our_grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_boxes_at_and_beyond_the_borders():
    features, _, _ = make_inputs(size=(6, 7), scale=1.0)
    rois = torch.tensor([[0, -3.0, -2.0, 4.0, 3.0], [1, 3.0, 2.0, 9.0, 9.0],
                         [0, 0.5, 0.5, 6.5, 5.5], [1, -20.0, -20.0, -10.0, -10.0],
                         [0, 2.0, 2.0, 2.0, 5.0]], dtype=torch.float64)
    offset = torch.randn(5, 2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for o in (None, offset):
        torch.testing.assert_close(
            deform_roi_pool(features, rois, o, output_size=3, spatial_scale=1.0),
            reference.deform_roi_pool(features, rois, o, (3, 3), 1.0, 0, 0.1))
    far_away = deform_roi_pool(features, rois[3:4], None, output_size=3, spatial_scale=1.0)
    assert far_away.abs().max() == 0


def test_zero_offsets_equal_plain_pooling():
    features, rois, offset = make_inputs()
    plain = deform_roi_pool(features, rois, None, output_size=3, spatial_scale=0.5)
    zero = deform_roi_pool(features, rois, torch.zeros_like(offset), output_size=3,
                           spatial_scale=0.5)
    torch.testing.assert_close(zero, plain)


def test_constant_image_pools_to_the_constant_and_offsets_move_bins():
    """Hand-checkable case: a ramp image x(y, x) = x; a bin's mean is its centre's x."""
    width = 16
    ramp = torch.arange(width, dtype=torch.float64).expand(1, 1, 8, width).contiguous()
    rois = torch.tensor([[0, 4.5, 1.5, 10.5, 5.5]], dtype=torch.float64)  # cells 4..10
    plain = deform_roi_pool(ramp, rois, None, output_size=(1, 3), sampling_ratio=2)
    torch.testing.assert_close(plain.flatten(), torch.tensor([5.0, 7.0, 9.0], dtype=torch.float64))
    offset = torch.zeros(1, 2, 1, 3, dtype=torch.float64)
    offset[0, 0, 0, 1] = 0.5  # x shift of gamma * roi_w * 0.5 = 0.1 * 6 * 0.5 = 0.3 cells
    moved = deform_roi_pool(ramp, rois, offset, output_size=(1, 3), sampling_ratio=2)
    torch.testing.assert_close(moved.flatten(), torch.tensor([5.0, 7.3, 9.0], dtype=torch.float64))


def test_gradcheck():
    features, rois, offset = make_inputs(num_rois=3, channels=2, size=(6, 7))
    features.requires_grad_(True)
    offset = (offset * 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f, o: deform_roi_pool(f, rois, o, output_size=3, spatial_scale=0.5,
                                     sampling_ratio=2), (features, offset))


def test_empty_rois_and_prime_counts():
    features, rois, offset = make_inputs(num_rois=7)
    assert deform_roi_pool(features, rois[:0], offset[:0], output_size=3).shape == (0, 3, 3, 3)
    assert deform_roi_pool(features, rois, offset, output_size=3).shape == (7, 3, 3, 3)


def test_opcheck():
    features, rois, offset = make_inputs(num_rois=3, channels=2, size=(6, 6))
    features.requires_grad_(True)
    offset.requires_grad_(True)
    for o in (offset, None):
        torch.library.opcheck(torch.ops.deformviz.deform_roi_pool.default,
                              (features, rois, o, 3, 3, 0.5, 2, 0.1))


@pytest.mark.parametrize("call, message", [
    (lambda f, r, o: deform_roi_pool(f, r[:, :4], o, output_size=3), "rois must have shape"),
    (lambda f, r, o: deform_roi_pool(f, r, o[:, :1], output_size=3), "offset must have shape"),
    (lambda f, r, o: deform_roi_pool(f, r.float(), o, output_size=3), "rois has dtype"),
    (lambda f, r, o: deform_roi_pool(f, r, o, output_size=0), "output_size"),
    (lambda f, r, o: deform_roi_pool(f, r, o, output_size=3, spatial_scale=0), "spatial_scale"),
    (lambda f, r, o: deform_roi_pool(f, r, o, output_size=3, sampling_ratio=-1), "sampling_ratio"),
    (lambda f, r, o: deform_roi_pool(f[0], r, o, output_size=3), "input must be 4-D"),
])
def test_bad_arguments_name_the_argument(call, message):
    features, rois, offset = make_inputs()
    with pytest.raises((ValueError, TypeError), match=message):
        call(features, rois, offset)


def test_module_starts_as_plain_pooling_and_reports_offsets():
    features, rois, _ = make_inputs()
    pool = DeformRoIPool(3, 3, spatial_scale=0.5, hidden_channels=16).double()
    seen = []
    pool.register_offset_hook(lambda module, offset, rois: seen.append(offset))
    plain = deform_roi_pool(features, rois, None, output_size=3, spatial_scale=0.5)
    torch.testing.assert_close(pool(features, rois), plain)
    assert seen[0].shape == (5, 2, 3, 3) and seen[0].abs().max() == 0


def test_module_learns_offsets():
    """A gradient step on the offset branch changes the offsets (the branch is trainable)."""
    features, rois, _ = make_inputs()
    pool = DeformRoIPool(3, 3, spatial_scale=0.5, hidden_channels=16).double()
    loss = pool(features, rois).pow(2).sum()
    loss.backward()
    assert pool.offset_fc[-1].weight.grad.abs().sum() > 0


def test_plain_twin_has_no_offset_branch():
    features, rois, _ = make_inputs()
    twin = DeformRoIPool(3, 3, spatial_scale=0.5, deformable=False).double()
    assert twin.offset_fc is None and not list(twin.parameters())
    torch.testing.assert_close(twin(features, rois),
                               deform_roi_pool(features, rois, None, output_size=3,
                                               spatial_scale=0.5))
