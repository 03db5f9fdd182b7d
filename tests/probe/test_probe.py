"""probe(): records of every deformable layer kind, hooks always removed, masks after the
sigmoid, offsets exactly as the operator used them."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from deformviz.ops import DeformConv2dPack
from deformviz.probe import ProbeError, probe

from .stand_ins import (Detectron2Block, MmcvDeformConv2d, MmcvDeformConv2dPack,
                        MmcvModulatedDeformConv2dPack, TorchvisionDeformConv2d)


def _randomise_offsets(module: nn.Module, scale: float = 0.3) -> None:
    generator = torch.Generator().manual_seed(7)
    for name, child in module.named_modules():
        if name.endswith("offset") and isinstance(child, nn.Conv2d):
            with torch.no_grad():
                child.weight.copy_(torch.randn(child.weight.shape, generator=generator) * scale)
                child.bias.copy_(torch.randn(child.bias.shape, generator=generator))


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks)
               + len(getattr(m, "_offset_hooks", {})) for m in module.modules())


class _Net(nn.Module):
    """A stem, then deformviz DCNv2 (stride 2, 2 offset groups), then a plain conv."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dcn = DeformConv2dPack(8, 8, 3, stride=2, padding=1, offset_groups=2, modulated=True)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(torch.relu(self.dcn(torch.relu(self.stem(x)))))


def test_deformviz_layer_record_and_dcnv2_mask_after_sigmoid() -> None:
    torch.manual_seed(0)
    net = _Net().eval()
    _randomise_offsets(net)
    image = torch.randn(1, 3, 40, 56)
    result = probe(net, image)
    (record,) = result.layers
    assert (record.name, record.kind, record.modulated, record.weight_groups) == \
        ("dcn", "deformviz", True, 1)
    g = record.geometry
    assert (g.kernel_size, g.stride, g.padding, g.dilation, g.offset_groups) == \
        ((3, 3), (2, 2), (1, 1), (1, 1), 2)
    assert record.input_size == (20, 28) and record.output_size == (10, 14)
    assert record.input_grid.stride == (2.0, 2.0) and record.output_grid.stride == (4.0, 4.0)
    assert record.input_grid.origin == (0.0, 0.0)
    # What the operator used: the offset conv's first 2GK channels, the rest through a sigmoid.
    with torch.no_grad():
        raw = net.dcn.conv_offset(torch.relu(net.stem(image)))
    torch.testing.assert_close(record.offset, raw[:, :36])
    torch.testing.assert_close(record.mask, raw[:, 36:].sigmoid())
    assert record.mask.min() >= 0 and record.mask.max() <= 1 and raw[:, 36:].min() < 0
    assert _hook_count(net) == 0


def test_hooks_are_removed_when_the_forward_pass_fails() -> None:
    class Broken(_Net):
        def forward(self, x):
            self.dcn(self.stem(x))
            raise RuntimeError("head exploded")

    net = Broken().eval()
    with pytest.raises(RuntimeError, match="head exploded"):
        probe(net, torch.randn(1, 3, 32, 32))
    assert _hook_count(net) == 0
    assert torch._C._len_torch_function_stack() == 0  # the arithmetic recorder is gone too
    assert len(probe(_Net().eval(), torch.randn(1, 3, 32, 32)).layers) == 1  # still usable


def test_the_module_is_not_changed() -> None:
    net = _Net().eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    image = torch.randn(2, 3, 32, 32)
    output = probe(net, image, keep_outputs=True).outputs
    with torch.no_grad():
        torch.testing.assert_close(output, net(image))
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert output.shape == (2, 4, 8, 8)


def test_library_layers_are_recognised_without_importing_the_libraries() -> None:
    torch.manual_seed(1)

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pack = MmcvDeformConv2dPack(4, 8, 3, padding=1)
            self.pack_v2 = MmcvModulatedDeformConv2dPack(8, 8, 3, stride=2, padding=1,
                                                          deform_groups=2)
            self.d2 = Detectron2Block(8, groups=2)
            self.offset = nn.Conv2d(8, 18, 3, padding=1)
            self.plain = MmcvDeformConv2d(8, 8, 3, padding=1)

        def forward(self, x):
            x = self.d2(self.pack_v2(self.pack(x)))
            return self.plain(x, self.offset(x))

    net = Mixed().eval()
    _randomise_offsets(net)
    loaded = set(sys.modules)
    result = probe(net, torch.randn(1, 4, 24, 24))
    assert not {m for m in set(sys.modules) - loaded
                if m.split(".")[0] in ("mmcv", "detectron2", "torchvision")}
    assert [(r.name, r.kind, r.modulated, r.geometry.offset_groups) for r in result.layers] == [
        ("pack", "mmcv-pack", False, 1), ("pack_v2", "mmcv-pack-v2", True, 2),
        ("d2.conv2", "detectron2-v2", True, 2), ("plain", "mmcv", False, 1)]
    record = result.layers[1]
    assert record.offset.shape == (1, 36, 12, 12) and record.mask.shape == (1, 18, 12, 12)
    assert record.input_grid.stride == (1.0, 1.0) and record.output_grid.stride == (2.0, 2.0)
    assert result.layers[2].geometry.dilation == (2, 2) and result.layers[2].geometry.padding == (2, 2)


def test_mmcv_pack_v2_offsets_and_mask_are_the_chunks() -> None:
    torch.manual_seed(2)
    layer = MmcvModulatedDeformConv2dPack(4, 4, 3, padding=1, deform_groups=1).eval()
    _randomise_offsets(layer)
    x = torch.randn(1, 4, 9, 11)
    (record,) = probe(layer, x).layers
    with torch.no_grad():
        raw = layer.conv_offset(x)
    torch.testing.assert_close(record.offset, torch.cat([raw[:, :9], raw[:, 9:18]], dim=1))
    torch.testing.assert_close(record.mask, raw[:, 18:].sigmoid())
    assert record.name == ""  # the probed module itself


def test_torchvision_style_arguments_and_groups_from_channels() -> None:
    """torchvision's layer gets offset and mask as forward arguments and does not store its
    offset groups: both come from the call."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.predict = nn.Conv2d(4, 3 * 2 * 9, 3, padding=1)
            self.dcn = TorchvisionDeformConv2d(4, 6, 3, padding=1)

        def forward(self, x):
            raw = self.predict(x)
            return self.dcn(x, raw[:, :36], mask=raw[:, 36:].sigmoid())

    net = Net().eval()
    x = torch.randn(1, 4, 10, 12)
    (record,) = probe(net, x).layers
    assert record.kind == "torchvision" and record.geometry.offset_groups == 2
    assert record.modulated
    with torch.no_grad():
        raw = net.predict(x)
    torch.testing.assert_close(record.offset, raw[:, :36])
    torch.testing.assert_close(record.mask, raw[:, 36:].sigmoid())


def test_a_layer_called_twice_gets_two_records() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dcn = DeformConv2dPack(4, 4, 3, padding=1)

        def forward(self, x):
            return self.dcn(self.dcn(x))

    result = probe(Twice().eval(), torch.randn(1, 4, 8, 8))
    assert result.names == ("dcn", "dcn#2")


def test_an_adapter_whose_source_never_reports_is_an_error() -> None:
    from deformviz.probe import LayerAdapter, spec_from_attributes

    silent = LayerAdapter("silent", lambda m: isinstance(m, TorchvisionDeformConv2d),
                          spec_from_attributes, lambda module, sink: [])

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dcn = TorchvisionDeformConv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.dcn(x, torch.zeros(1, 18, 6, 6))

    net = Net().eval()
    with pytest.raises(ProbeError, match="without reporting its offsets"):
        probe(net, torch.randn(1, 2, 6, 6), adapters=[silent])
    assert _hook_count(net) == 0


def test_hooks_are_removed_when_an_adapter_fails_to_attach() -> None:
    from deformviz.probe import LayerAdapter, from_submodule_output, spec_from_attributes

    broken = LayerAdapter("broken", lambda m: isinstance(m, MmcvDeformConv2d),
                          spec_from_attributes, from_submodule_output("no_such_submodule"))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = DeformConv2dPack(2, 2, 3, padding=1)
            self.second = MmcvDeformConv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.second(self.first(x), torch.zeros(1, 18, 4, 4))

    net = Net().eval()
    with pytest.raises(AttributeError):
        probe(net, torch.randn(1, 2, 4, 4), adapters=[broken])
    assert _hook_count(net) == 0


def test_layers_wrapped_inside_conv2_get_the_paper_name() -> None:
    """`layer4.0.conv2.dcn`: torchvision's DeformConv2d added inside a block's conv2."""
    from deformviz.probe import paper_name

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dcn = DeformConv2dPack(4, 4, 3, padding=1)

        def forward(self, x):
            return self.dcn(x)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv2 = Wrapped()

        def forward(self, x):
            return self.conv2(x)

    net = nn.Module()
    net.layer4 = nn.Sequential(Block())
    net.forward = lambda x: net.layer4(x)
    result = probe(net.eval(), torch.rand(1, 4, 8, 8))
    assert result.names == ("layer4.0.conv2.dcn",)
    assert result.label("layer4.0.conv2.dcn") == "res5a"
    assert result.find("res5a").name == "layer4.0.conv2.dcn"
    assert paper_name("layer4.0.conv2.dcn") == "res5a" and paper_name("layer4.0.conv3") is None
