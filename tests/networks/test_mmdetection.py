"""mmdetection checkpoints load strictly into the rebuilt backbone, with the right layers."""

from __future__ import annotations

import pytest
import torch

from deformviz.errors import CheckpointError
from deformviz.networks import load_network
from deformviz.networks.preprocessing import CAFFE_BGR, MMDETECTION_PYTORCH
from deformviz.ops import DeformConv2dPack

from .published_layouts import Layout, backbone_state, dcn_c3_c5, mmdetection_checkpoint

DCN = dcn_c3_c5()


def _module_key(layout: Layout, checkpoint_key: str) -> str:
    key = checkpoint_key[len(layout.key_prefix):]
    return key.replace(".conv2_offset.", ".conv2.conv_offset.")


def assert_every_backbone_key_used(network, layout: Layout, state: dict) -> None:
    """Each backbone tensor of the file is in the module, and the module holds nothing else
    (batch counters aside)."""
    module_state = network.module.state_dict()
    backbone = {k: v for k, v in state.items() if k.startswith(layout.key_prefix)}
    used = set()
    for key, value in backbone.items():
        target = _module_key(layout, key)
        assert target in module_state, key
        assert torch.equal(module_state[target], value.to(module_state[target].dtype)), key
        used.add(target)
    counters = {k for k in module_state if k.endswith("num_batches_tracked")}
    assert set(module_state) - counters == used - counters  # a file may lack batch counters


def test_meta_state_dict_file_loads_strictly(tmp_path):
    layout = Layout(dcn=DCN)
    checkpoint = mmdetection_checkpoint(layout)
    path = tmp_path / "faster_rcnn_r50_fpn_dconv_c3-c5.pth"
    torch.save(checkpoint, path)
    network = load_network(path)
    assert_every_backbone_key_used(network, layout, checkpoint["state_dict"])
    assert network.format == "mmdetection"
    assert network.architecture == "ResNet-50, pytorch style (stride on the 3x3), DCNv1 in c3-c5"
    assert len(network.deformable_layers) == 4 + 6 + 3
    assert network.deformable_layers[0] == "layer2.0.conv2"
    assert network.default_chain == ("layer4.0.conv2", "layer4.1.conv2", "layer4.2.conv2")
    modules = dict(network.module.named_modules())
    assert all(isinstance(modules[name], DeformConv2dPack) for name in network.deformable_layers)
    assert network.preprocessing == MMDETECTION_PYTORCH
    assert network.details["ignored keys"] == (
        "3 keys outside the backbone: neck 1 (neck.*), heads 2 (roi_head, rpn_head)")
    assert network.details["layer2.0.conv2"] == (
        "DCNv1, 1 offset group, stride 2, dilation 1, groups 1, 8 channels, input stride 4 px")
    assert "{'meta', 'state_dict'}" in network.details["file"]
    assert not network.module.training


def test_legacy_offset_keys_and_bare_state_dict(tmp_path):
    layout = Layout(dcn=DCN, legacy_offsets=True, batch_counters=False)
    state = backbone_state(layout)
    assert any(".conv2_offset." in key for key in state)
    torch.save(state, tmp_path / "legacy.pth")
    network = load_network(tmp_path / "legacy.pth")
    assert_every_backbone_key_used(network, layout, state)
    assert network.details["file"].startswith("bare state dict")


def test_torchvision_named_state_dict_ignores_classifier(tmp_path):
    layout = Layout(dcn={(3, 2): (True, 2)}, prefix="")
    state = {**backbone_state(layout), "fc.weight": torch.zeros(10, 64), "fc.bias": torch.zeros(10)}
    torch.save(state, tmp_path / "tv.pth")
    network = load_network(tmp_path / "tv.pth")
    assert network.deformable_layers == ("layer4.2.conv2",)
    assert network.details["layer4.2.conv2"].startswith("DCNv2, 2 offset groups")
    assert network.details["ignored keys"] == "2 keys outside the backbone: classifier 2 (fc)"


def test_style_from_option_and_from_embedded_config(tmp_path):
    layout = Layout(dcn=DCN)
    torch.save(mmdetection_checkpoint(layout, style="caffe"), tmp_path / "caffe.pth")
    embedded = load_network(tmp_path / "caffe.pth")
    assert embedded.module.spec.stride_in_1x1
    assert embedded.preprocessing == CAFFE_BGR
    assert "checkpoint's config" in embedded.details["style"]
    chosen = load_network(tmp_path / "caffe.pth", style="pytorch")
    assert not chosen.module.spec.stride_in_1x1
    # The stride really moved: block layer2.0's conv1 strides in caffe style only.
    assert embedded.module.layer2[0].conv1.stride == (2, 2)
    assert embedded.module.layer2[0].conv2.stride == (1, 1)
    assert chosen.module.layer2[0].conv2.stride == (2, 2)


def test_resnext_groups_and_depths_from_shapes(tmp_path):
    layout = Layout(blocks=(3, 4, 23, 3), widths=(8, 16, 16, 32), groups=4, dcn={(3, 0): (True, 1)})
    torch.save(mmdetection_checkpoint(layout), tmp_path / "x101.pth")
    network = load_network(tmp_path / "x101.pth")
    assert network.architecture.startswith("ResNeXt-101 4x2d")
    assert network.module.layer4[0].conv2.groups == 4
    assert network.details["blocks per stage"] == "3, 4, 23, 3"


def test_missing_and_unknown_backbone_keys_are_named(tmp_path):
    layout = Layout(dcn=DCN)
    checkpoint = mmdetection_checkpoint(layout)
    del checkpoint["state_dict"]["backbone.layer3.2.bn2.running_var"]
    torch.save(checkpoint, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"backbone\.layer3\.2\.bn2\.running_var is missing"):
        load_network(tmp_path / "missing.pth")
    checkpoint = mmdetection_checkpoint(layout)
    checkpoint["state_dict"]["backbone.layer2.1.conv2.extra.weight"] = torch.zeros(1)
    torch.save(checkpoint, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"backbone\.layer2\.1\.conv2\.extra\.weight"):
        load_network(tmp_path / "extra.pth")


def test_plain_resnet_is_refused_with_its_name(tmp_path):
    torch.save(mmdetection_checkpoint(Layout()), tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="no deformable layers: the keys look like a plain "
                                              "ResNet-50"):
        load_network(tmp_path / "plain.pth")
