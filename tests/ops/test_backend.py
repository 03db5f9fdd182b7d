"""The fallback to the reference implementation is visible, and correct."""

from __future__ import annotations

import warnings

import pytest
import torch

from deformviz.ops import _extension, deform_conv2d, deform_roi_pool

from .conftest import make_conv_case


@pytest.fixture
def without_compiled_library(monkeypatch):
    monkeypatch.setattr(_extension, "_compiled", None)
    monkeypatch.setattr(_extension, "_load_error", "ImportError: simulated")
    monkeypatch.setattr(_extension, "_warned", set())


def test_backend_names(without_compiled_library):
    assert _extension.operator_backend("cpu") == "reference"
    assert _extension.operator_backend("cuda") == "reference"


def test_fallback_warns_once_and_gives_the_same_result(without_compiled_library):
    case = make_conv_case()
    with pytest.warns(RuntimeWarning, match="reference implementation.*|simulated"):
        fallback = deform_conv2d(*case.args())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deform_conv2d(*case.args())  # second call: no further warning
    features = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    rois = torch.tensor([[0, 1.0, 1.0, 5.0, 4.0]], dtype=torch.float64)
    fallback_pool = deform_roi_pool(features, rois, None, output_size=2)
    _extension._compiled = _extension._load()[0]  # restored by monkeypatch afterwards
    torch.testing.assert_close(fallback, deform_conv2d(*case.args()))
    torch.testing.assert_close(fallback_pool, deform_roi_pool(features, rois, None, output_size=2))
