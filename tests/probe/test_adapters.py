"""User-registered adapters, and torchvision's real DeformConv2d where it can be imported."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deformviz.ops import deform_conv2d
from deformviz.probe import (LayerAdapter, LayerSpec, from_submodule_output, probe,
                             register_layer_adapter, unregister_layer_adapter)


class MyDeformable(nn.Module):
    """A user's own deformable layer: `predictor` makes offsets and mask logits in one map
    (mask first, the reverse of mmcv), the sampling is functional."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.predictor = nn.Conv2d(channels, 27, 3, padding=2, dilation=2)
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3) * 0.1)

    def forward(self, x):
        raw = self.predictor(x)
        return deform_conv2d(x, raw[:, 9:], self.weight, padding=2, dilation=2,
                             mask=raw[:, :9].sigmoid())


def _adapter() -> LayerAdapter:
    return LayerAdapter(
        "my-dcn", lambda module: isinstance(module, MyDeformable),
        lambda module: LayerSpec((3, 3), padding=2, dilation=2, offset_groups=1, modulated=True),
        from_submodule_output("predictor", lambda raw: (raw[:, 9:], raw[:, :9].sigmoid())))


def test_a_registered_adapter_finds_a_users_layer() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), MyDeformable(4)).eval()
    x = torch.randn(1, 3, 30, 30)
    assert probe(net, x).layers == ()  # unknown kinds are not guessed
    adapter = register_layer_adapter(_adapter())
    try:
        (record,) = probe(net, x).layers
    finally:
        unregister_layer_adapter(adapter)
    assert (record.name, record.kind, record.modulated) == ("1", "my-dcn", True)
    assert record.geometry.dilation == (2, 2) and record.input_grid.stride == (2.0, 2.0)
    with torch.no_grad():
        raw = net[1].predictor(net[0](x))
    torch.testing.assert_close(record.offset, raw[:, 9:])
    torch.testing.assert_close(record.mask, raw[:, :9].sigmoid())
    assert probe(net, x).layers == ()  # unregistered again
    assert len(probe(net, x, adapters=[_adapter()]).layers) == 1  # or for one call only


@pytest.mark.torchvision
def test_torchvision_deform_conv2d_is_probed() -> None:
    ops = pytest.importorskip(
        "torchvision.ops", reason="torchvision is not importable here (PyPI's wheel needs the "
                                  "CUDA build of torch; CI runs this in such a venv)")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.offsets = nn.Conv2d(4, 27 * 2, 3, stride=2, padding=1)
            self.dcn = ops.DeformConv2d(4, 8, 3, stride=2, padding=1)

        def forward(self, x):
            raw = self.offsets(x)
            return self.dcn(x, raw[:, :36], raw[:, 36:].sigmoid())

    net = Net().eval()
    x = torch.randn(1, 4, 20, 24)
    (record,) = probe(net, x).layers
    assert (record.kind, record.geometry.offset_groups, record.modulated) == ("torchvision", 2, True)
    assert record.geometry.stride == (2, 2) and record.output_grid.stride == (2.0, 2.0)
    with torch.no_grad():
        raw = net.offsets(x)
    torch.testing.assert_close(record.offset, raw[:, :36])
    torch.testing.assert_close(record.mask, raw[:, 36:].sigmoid())
    assert not any(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in net.modules())
