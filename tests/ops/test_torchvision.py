"""Our operators against torchvision's on the same inputs (CPU, float64): deform_conv2d forward
and every gradient, and plain deform_roi_pool against roi_align(aligned=True). CI runs these in
its CUDA-torch environment (.ci/cuda_build.sh), where torchvision is installed."""

from __future__ import annotations

import pytest
import torch

from deformviz.ops import deform_conv2d, deform_roi_pool

from .conftest import make_conv_case
from .test_deform_conv2d import CONFIGS, grads
from .test_deform_roi_pool import make_inputs

try:
    import torchvision.ops
except Exception as error:  # not installed, or built for another torch
    pytest.skip(f"torchvision is not importable here ({type(error).__name__}: {error})",
                allow_module_level=True)

pytestmark = pytest.mark.torchvision


def torchvision_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask):
    return torchvision.ops.deform_conv2d(input, offset, weight, bias, stride, padding, dilation,
                                         mask)


@pytest.mark.parametrize("name", CONFIGS)
def test_deform_conv2d_matches_torchvision(name):
    case = make_conv_case(**CONFIGS[name])
    upstream = torch.randn(deform_conv2d(*case.args()).shape, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(1))
    ours, our_grads = grads(deform_conv2d, case, upstream)
    theirs, their_grads = grads(torchvision_deform_conv2d, case, upstream)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    for got, want in zip(our_grads, their_grads):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_deform_conv2d_matches_torchvision_in_float32():
    case = make_conv_case(dtype=torch.float32, batch=3, channels=8, out_channels=4,
                          offset_groups=2)
    torch.testing.assert_close(deform_conv2d(*case.args()),
                               torchvision_deform_conv2d(*case.args()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_plain_deform_roi_pool_is_aligned_roi_align(sampling_ratio):
    features, rois, _ = make_inputs(num_rois=8, channels=4)
    features.requires_grad_(True)
    ours = deform_roi_pool(features, rois, None, output_size=3, spatial_scale=0.5,
                           sampling_ratio=sampling_ratio)
    theirs = torchvision.ops.roi_align(features, rois, 3, spatial_scale=0.5,
                                       sampling_ratio=sampling_ratio, aligned=True)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(ours)
    (got,) = torch.autograd.grad((ours * upstream).sum(), features)
    (want,) = torch.autograd.grad((theirs * upstream).sum(), features)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
