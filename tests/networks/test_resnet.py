"""The rebuilt ResNet: parameter counts, equality with a plain ResNet at zero offsets, DCNv2's
offset/mask split, offset groups."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deformviz.networks import load_network
from deformviz.networks.resnet import DeformSpec, ResNet, ResNetSpec, count_weights
from deformviz.ops import deform_conv2d

from .published_layouts import (Layout, backbone_state, dcn_c3_c5, reference_backbone,
                                write_detectron2_pkl, zero_offsets)

PLAIN = (False, False, False, False)


def offset_conv_weights(depth: int, spec: DeformSpec) -> int:
    """Weights of the offset convs of DCN in every c3-c5 block: 3x3 convs from the bottleneck
    width to 18 G (or 27 G) channels, with bias."""
    blocks = {50: (4, 6, 3), 101: (4, 23, 3)}[depth]
    return sum(n * (spec.offset_channels * width * 9 + spec.offset_channels)
               for n, width in zip(blocks, (128, 256, 512)))


@pytest.mark.parametrize("naming", ["mmdetection", "detectron2"])
def test_parameter_counts(naming):
    def weights(depth: int, **options) -> int:
        with torch.device("meta"):  # shapes only: real sizes without allocating them
            return count_weights(ResNet(ResNetSpec.standard(
                depth, naming=naming, frozen_norm=naming == "detectron2", **options)))

    assert weights(50, dcn_stages=PLAIN) == 23_508_032
    assert weights(101, dcn_stages=PLAIN) == 42_500_160
    # torchvision's resnet152 and resnext50_32x4d less their 2048 x 1000 classifier.
    assert weights(152, dcn_stages=PLAIN) == 60_192_808 - 2_049_000
    assert weights(50, groups=32, width_per_group=4, dcn_stages=PLAIN) == 25_028_904 - 2_049_000
    for depth, plain in ((50, 23_508_032), (101, 42_500_160)):
        for dcn in (DeformSpec(False, 1), DeformSpec(True, 4)):
            assert weights(depth, dcn=dcn) == plain + offset_conv_weights(depth, dcn)


def test_resnext_shapes():
    net = ResNet(ResNetSpec.standard(101, groups=32, width_per_group=4, dcn_stages=PLAIN))
    assert net.spec.name == "ResNeXt-101 32x4d"
    assert net.layer1[0].conv2.weight.shape == (128, 4, 3, 3)
    assert net.layer4[2].conv3.weight.shape == (2048, 1024, 1, 1)


@pytest.mark.parametrize("modulated", [False, True])
def test_zero_offsets_equal_a_plain_resnet_mmdetection(tmp_path, modulated):
    layout = Layout(dcn=dcn_c3_c5(modulated=modulated, groups=2))
    state = backbone_state(layout, seed=3)
    torch.save({"meta": {}, "state_dict": state}, tmp_path / "m.pth")
    network = load_network(tmp_path / "m.pth")
    x = torch.randn(1, 3, 67, 93, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        deformed = network.module(x)
        zero_offsets(network)
        rebuilt = network.module(x)
    expected = reference_backbone(state, layout, x, stride_in_1x1=False,
                                  conv2_scale=0.5 if modulated else 1.0)
    for name in ("c2", "c3", "c4", "c5"):
        torch.testing.assert_close(rebuilt[name], expected[name], rtol=1e-4, atol=1e-4)
    assert rebuilt["c5"].shape == (1, 64, 3, 3)
    # The non-zero offsets of the file did change the output (the test could fail).
    assert not torch.allclose(deformed["c5"], expected["c5"], atol=1e-3)


def test_zero_offsets_equal_a_plain_resnet_detectron2_caffe_style(tmp_path):
    layout = Layout(naming="detectron2", dcn=dcn_c3_c5(), batch_counters=False)
    state = write_detectron2_pkl(tmp_path / "d2.pkl", layout, seed=5)
    network = load_network(tmp_path / "d2.pkl")
    x = torch.randn(2, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        zero_offsets(network)
        rebuilt = network.module(x)
    expected = reference_backbone(state, layout, x, stride_in_1x1=True)
    for name in ("c2", "c3", "c4", "c5"):
        torch.testing.assert_close(rebuilt[name], expected[name], rtol=1e-4, atol=1e-4)


def _raw_offsets(layer, x):
    conv = layer.conv_offset
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)


def test_dcnv2_offset_is_the_first_two_chunks_and_mask_the_sigmoid_of_the_third(tmp_path):
    layout = Layout(dcn={(3, 1): (True, 1)})
    torch.save(backbone_state(layout, seed=7), tmp_path / "v2.pth")
    layer = load_network(tmp_path / "v2.pth").module.layer4[1].conv2
    x = torch.randn(1, 16, 9, 11, generator=torch.Generator().manual_seed(2))
    raw = _raw_offsets(layer, x)
    assert raw.shape[1] == 27
    first, second, third = torch.chunk(raw, 3, dim=1)  # mmcv's and detectron2's split
    expected = deform_conv2d(x, torch.cat((first, second), 1), layer.weight, None, layer.stride,
                             layer.padding, layer.dilation, third.sigmoid())
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)
        # Another reading of the same channels (mask first, or no sigmoid) differs: the test
        # pins the order down.
        wrong = deform_conv2d(x, torch.cat((second, third), 1), layer.weight, None, layer.stride,
                              layer.padding, layer.dilation, first.sigmoid())
        unsquashed = deform_conv2d(x, torch.cat((first, second), 1), layer.weight, None,
                                   layer.stride, layer.padding, layer.dilation, third)
        assert not torch.allclose(layer(x), wrong, atol=1e-3)
        assert not torch.allclose(layer(x), unsquashed, atol=1e-3)


def test_offset_groups_read_from_shapes(tmp_path):
    layout = Layout(dcn={(2, 0): (False, 4), (3, 0): (True, 4), (3, 2): (False, 2)})
    torch.save(backbone_state(layout, seed=9), tmp_path / "g.pth")
    network = load_network(tmp_path / "g.pth")
    module = network.module
    assert (module.layer3[0].conv2.offset_groups, module.layer3[0].conv2.modulated) == (4, False)
    assert (module.layer4[0].conv2.offset_groups, module.layer4[0].conv2.modulated) == (4, True)
    assert (module.layer4[2].conv2.offset_groups, module.layer4[2].conv2.modulated) == (2, False)
    assert network.deformable_layers == ("layer3.0.conv2", "layer4.0.conv2", "layer4.2.conv2")
    # Four groups: each quarter of the input channels moves by its own offsets. Shifting only
    # group 2's offsets changes only what group 2's channels contribute.
    layer = module.layer3[0].conv2
    x = torch.randn(1, 8, 12, 12, generator=torch.Generator().manual_seed(4))
    offset = _raw_offsets(layer, x)
    moved = offset.clone()
    moved[:, 2 * 18:3 * 18] += 0.7
    keep = torch.ones(8)
    keep[4:6] = 0  # channels of group 2 (8 channels / 4 groups)
    masked_weight = layer.weight * keep[None, :, None, None]
    with torch.no_grad():
        a = deform_conv2d(x, offset, masked_weight, None, layer.stride, layer.padding, layer.dilation)
        b = deform_conv2d(x, moved, masked_weight, None, layer.stride, layer.padding, layer.dilation)
        torch.testing.assert_close(a, b)
        assert not torch.allclose(
            deform_conv2d(x, offset, layer.weight, None, layer.stride, layer.padding, layer.dilation),
            deform_conv2d(x, moved, layer.weight, None, layer.stride, layer.padding, layer.dilation))
