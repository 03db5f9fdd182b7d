"""DCNv3 / DCNv4 layers recognised by class path (InternImage's DCNv3 and DCNv3_pytorch,
DCNv4's DCNv4, never imported) and deformviz's own modules: records in the DeformLayerRecord
layout, channels-last / token map sizes, softmax (DCNv3) or raw (DCNv4) modulation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deformviz.networks.internimage_model import DCNv3Module, DCNv4Module
from deformviz.probe import probe
from deformviz.probe.dcnv3_records import DCNv3LayerRecord


def _stand_in(name: str, path: str, built: nn.Module) -> nn.Module:
    """A module of class `path.name` (not a deformviz class) with `built`'s submodules and
    forward: what a model holding InternImage's / DCNv4's own class looks like to the probe."""
    cls = type(name, (nn.Module,), {"__module__": path, "forward": type(built).forward})
    layer = cls()
    layer.__dict__.update(built.__dict__)
    return layer


class _Net(nn.Module):
    """Stem of two stride-2 convs, then the layer on channels-last maps (or tokens)."""

    def __init__(self, layer: nn.Module, tokens: bool, pass_shape: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.stem2 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.layer, self.tokens, self.pass_shape = layer, tokens, pass_shape

    def forward(self, image):
        x = self.stem2(self.stem(image)).permute(0, 2, 3, 1)
        if not self.tokens:
            return self.layer(x)
        n, h, w, c = x.shape
        tokens = x.reshape(n, h * w, c)
        return self.layer(tokens, (h, w)) if self.pass_shape else self.layer(tokens)


def _dcnv3(scale=1.0):
    torch.manual_seed(0)
    layer = DCNv3Module(32, 2, scale, 3, 1e-6, "GELU", False)
    with torch.no_grad():
        layer.offset.weight.zero_()
        layer.mask.weight.zero_()
        layer.offset.bias.copy_(torch.tensor([0.25, -0.5]).repeat(18))  # (x, y) everywhere
        layer.mask.bias.copy_(torch.arange(18.0) / 4)
    return layer


@pytest.mark.parametrize("name, path", [("DCNv3", "ops_dcnv3.modules.dcnv3"),
                                        ("DCNv3_pytorch", "ops_dcnv3.modules.dcnv3"),
                                        (None, None)])
def test_dcnv3_layers_by_class_path(name, path):
    built = _dcnv3(scale=2.0)
    layer = built if name is None else _stand_in(name, path, built)
    net = _Net(layer, tokens=False).eval()
    result = probe(net, torch.randn(1, 3, 40, 64))
    (record,) = result.layers
    assert isinstance(record, DCNv3LayerRecord) and record.kind == "dcnv3"
    assert record.version == "DCNv3" and record.offset_scale == 2.0
    assert record.input_size == (10, 16) and record.output_size == (10, 16)
    assert record.input_grid.stride == (4.0, 4.0)
    # every tap: offset_scale * (dy, dx) + (offset_scale - 1) * (tap - centre)
    taps = record.offset[0, :, 3, 5].view(2, 3, 3, 2)
    grid = torch.stack(torch.meshgrid(torch.arange(3.0) - 1, torch.arange(3.0) - 1,
                                      indexing="ij"), -1)
    assert torch.allclose(taps, (torch.tensor([-1.0, 0.5]) + grid).expand(2, 3, 3, 2))
    weights = record.mask[0, :, 3, 5].view(2, 9)
    assert torch.allclose(weights.sum(1), torch.ones(2))
    raw = (torch.arange(18.0) / 4).view(2, 9).softmax(-1)  # point order: i (x) outer
    assert torch.allclose(weights, raw.view(2, 3, 3).transpose(1, 2).reshape(2, 9))


@pytest.mark.parametrize("stand_in, pass_shape", [(True, True), (False, True), (True, False)])
def test_dcnv4_layers_raw_modulation_and_token_sizes(stand_in, pass_shape):
    torch.manual_seed(0)
    built = DCNv4Module(32, 2, 0.5, 3, False)
    with torch.no_grad():
        built.offset_mask.weight.zero_()
        per_group = torch.cat([torch.tensor([0.5, 1.0]).repeat(9), torch.full((9,), -0.3)])
        bias = torch.zeros_like(built.offset_mask.bias)
        bias[:54] = per_group.repeat(2)
        built.offset_mask.bias.copy_(bias)
    layer = _stand_in("DCNv4", "DCNv4.modules.dcnv4", built) if stand_in else built
    size = (48, 80) if pass_shape else (64, 64)  # without shape DCNv4 assumes a square
    result = probe(_Net(layer, tokens=True, pass_shape=pass_shape).eval(), torch.randn(1, 3, *size))
    (record,) = result.layers
    assert record.kind == "dcnv4" and record.version == "DCNv4" and record.offset_scale == 0.5
    assert record.input_size == (size[0] // 4, size[1] // 4)
    assert torch.allclose(record.mask, torch.full_like(record.mask, -0.3))  # no softmax
    taps = record.offset[0, :, 2, 3].view(2, 3, 3, 2)
    grid = torch.stack(torch.meshgrid(torch.arange(3.0) - 1, torch.arange(3.0) - 1,
                                      indexing="ij"), -1)
    assert torch.allclose(taps, (0.5 * torch.tensor([1.0, 0.5]) - 0.5 * grid).expand(2, 3, 3, 2))
