"""Backbones beyond the plain BN ResNet: detectron2's stride convention and config, GroupNorm,
no norm, dilated stages, ResNetV1c/V1d. Each is checked against a reference forward pass
written from the published layout (`published_layouts.reference_backbone`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.errors import CheckpointError, InputError
from deformviz.imaging import LoadedImage
from deformviz.networks import load_network
from deformviz.networks.embedded_config import mmdetection_backbone, read_simple_yaml

from .published_layouts import (Layout, backbone_state, dcn_c3_c5, mmdetection_checkpoint,
                                reference_backbone, write_detectron2_pkl, write_detectron2_pth,
                                zero_offsets)


def _assert_matches_reference(network, state, layout, **reference) -> None:
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        zero_offsets(network)
        rebuilt = network.module(x)
    expected = reference_backbone(state, layout, x, **reference)
    for name in ("c2", "c3", "c4", "c5"):
        torch.testing.assert_close(rebuilt[name], expected[name], rtol=1e-4, atol=1e-4)


# --- detectron2: where the stride is --------------------------------------------------------

X_LAYOUT = Layout(naming="detectron2", widths=(8, 16, 16, 32), outs=(16, 32, 32, 64), groups=4,
                  dcn=dcn_c3_c5(), batch_counters=False)
R_LAYOUT = Layout(naming="detectron2", dcn=dcn_c3_c5(), batch_counters=False)


def test_detectron2_x_models_stride_in_the_3x3_by_the_zoo_convention(tmp_path):
    state = write_detectron2_pkl(tmp_path / "X-101-32x8d.pkl", X_LAYOUT)
    network = load_network(tmp_path / "X-101-32x8d.pkl")
    assert network.module.res3[0].conv2.stride == (2, 2)
    assert network.module.res3[0].conv1.stride == (1, 1)
    assert "the model zoo's convention for X models" in network.details["style"]
    _assert_matches_reference(network, state, X_LAYOUT, stride_in_1x1=False)
    r = load_network(write_detectron2_pkl(tmp_path / "R.pkl", R_LAYOUT) and tmp_path / "R.pkl")
    assert r.module.res3[0].conv1.stride == (2, 2)
    assert "the model zoo's convention for R models" in r.details["style"]
    chosen = load_network(tmp_path / "X-101-32x8d.pkl", stride_in_1x1=True)
    assert chosen.module.res3[0].conv1.stride == (2, 2)
    assert chosen.details["style"] == "stride on the 1x1 conv1 (chosen; the weights do not say)"


def test_detectron2_config_yaml_beside_the_file_is_read(tmp_path):
    state = write_detectron2_pth(tmp_path / "model_final.pth", R_LAYOUT)
    (tmp_path / "config.yaml").write_text(
        "INPUT:\n  FORMAT: RGB\nMODEL:\n  PIXEL_MEAN:\n  - 123.675\n  - 116.28\n  - 103.53\n"
        "  PIXEL_STD: [58.395, 57.12, 57.375]\n  RESNETS:\n    DEPTH: 50\n"
        "    STRIDE_IN_1X1: false  # torchvision-initialised\n    RES5_DILATION: 2\n")
    network = load_network(tmp_path / "model_final.pth")
    assert network.module.res3[0].conv2.stride == (2, 2)
    assert "(the config's MODEL.RESNETS.STRIDE_IN_1X1" in network.details["style"]
    assert network.details["config"] == f"{tmp_path / 'config.yaml'} beside the file"
    assert network.preprocessing.channel_order == "RGB"
    assert network.preprocessing.std == (58.395, 57.12, 57.375)
    assert network.module.res5[0].conv2.dilation == (2, 2)
    assert network.module.res5[0].conv2.stride == (1, 1)
    assert network.module.res5[0].conv2.conv_offset.dilation == (2, 2)
    assert "dilations 1, 1, 1, 2 (the checkpoint's config)" in network.details["strides, dilations"]
    assert network.details["res5.0.conv2"].endswith("dilation 2, groups 1, 16 channels, "
                                                    "input stride 16 px")
    _assert_matches_reference(network, state, R_LAYOUT, stride_in_1x1=False,
                              dilations=(1, 1, 1, 2), strides=(1, 2, 2, 1))
    with torch.no_grad():
        assert network.module(torch.zeros(1, 3, 64, 96))["c5"].shape[-2:] == (4, 6)


def test_simple_yaml_reader():
    flat = read_simple_yaml("A:\n  B:\n    C: 3\n  D: [1, 2]\nE: text # comment\nF:\n- x\n- y\n")
    assert flat == {"A.B.C": 3, "A.D": [1, 2], "E": "text", "F": ["x", "y"]}


# --- norms ------------------------------------------------------------------------------------

def test_mmdetection_groupnorm_groups_from_the_config(tmp_path):
    layout = Layout(norm="GN", gn_groups=4, dcn=dcn_c3_c5())
    state = backbone_state(layout)
    config = ("model = dict(backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='GN', "
              "num_groups=4, requires_grad=True), style='pytorch'))")
    torch.save({"meta": {"config": config}, "state_dict": state}, tmp_path / "gn.pth")
    network = load_network(tmp_path / "gn.pth")
    assert network.details["norm"] == "GroupNorm, 4 groups (the checkpoint's config)"
    assert "GroupNorm" in network.architecture
    _assert_matches_reference(network, state, layout, stride_in_1x1=False)
    torch.save({"state_dict": state}, tmp_path / "gn32.pth")  # no config: 32 groups, said so
    with pytest.raises(CheckpointError, match=r"GroupNorm with 32 groups cannot normalise 4 "
                       r"channels; the groups were GroupNorm, 32 groups \(mmdetection's usual"):
        load_network(tmp_path / "gn32.pth")


def test_detectron2_groupnorm_and_no_norm(tmp_path):
    layout = Layout(naming="detectron2", norm="GN", widths=(32, 32, 32, 64), outs=(64, 64, 64, 128),
                    stem=32, dcn=dcn_c3_c5(), batch_counters=False)
    state = write_detectron2_pth(tmp_path / "gn.pth", layout)
    network = load_network(tmp_path / "gn.pth")
    assert network.details["norm"].startswith("GroupNorm, 32 groups (detectron2's get_norm")
    _assert_matches_reference(network, state, layout, stride_in_1x1=True)
    bare = Layout(naming="detectron2", norm="none", dcn=dcn_c3_c5(), batch_counters=False)
    state = write_detectron2_pth(tmp_path / "none.pth", bare)
    network = load_network(tmp_path / "none.pth")
    assert network.details["norm"] == "none (no norm keys)"
    assert "no norm" in network.architecture
    _assert_matches_reference(network, state, bare, stride_in_1x1=True)


# --- dilation, deep stem ----------------------------------------------------------------------

def test_mmdetection_dilated_last_stage_from_config_and_option(tmp_path):
    layout = Layout(dcn=dcn_c3_c5())
    state = backbone_state(layout)
    config = ("model = dict(backbone=dict(type='ResNet', strides=(1, 2, 2, 1), "
              "dilations=(1, 1, 1, 2), style='pytorch'))")
    torch.save({"meta": {"config": config}, "state_dict": state}, tmp_path / "dc5.pth")
    network = load_network(tmp_path / "dc5.pth")
    assert network.module.layer4[0].conv2.dilation == (2, 2)
    assert network.details["strides, dilations"] == (
        "strides 1, 2, 2, 1, dilations 1, 1, 1, 2 (the checkpoint's config)")
    assert network.architecture.endswith("c5 dilated 2")
    _assert_matches_reference(network, state, layout, stride_in_1x1=False,
                              dilations=(1, 1, 1, 2), strides=(1, 2, 2, 1))
    torch.save({"state_dict": state}, tmp_path / "plain.pth")
    plain = load_network(tmp_path / "plain.pth")
    assert "(standard: no config says otherwise; the weights do not say)" in \
        plain.details["strides, dilations"]
    chosen = load_network(tmp_path / "plain.pth", dilations=(1, 1, 1, 2))
    assert chosen.module.layer4[0].conv2.dilation == (2, 2)
    assert chosen.module.layer4[0].conv2.stride == (1, 1)
    assert "chosen (--dilations; a dilated stage does not stride)" in \
        chosen.details["strides, dilations"]
    with pytest.raises(CheckpointError, match=r"contradict the checkpoint's config"):
        load_network(tmp_path / "dc5.pth", dilations=(1, 1, 2, 4))
    with pytest.raises(InputError, match="dilations must be four whole numbers"):
        load_network(tmp_path / "plain.pth", dilations=(1, 2))


@pytest.mark.parametrize("avg_down", [False, True])
def test_mmdetection_resnet_v1c_v1d(tmp_path, avg_down):
    layout = Layout(deep_stem=True, avg_down=avg_down, dcn=dcn_c3_c5(modulated=True))
    state = backbone_state(layout)
    torch.save({"state_dict": state}, tmp_path / "v1d.pth")
    network = load_network(tmp_path / "v1d.pth")
    assert network.architecture.startswith("ResNet-50 V1d" if avg_down else "ResNet-50 V1c")
    assert network.details["stem"].startswith("deep stem")
    assert network.details["projection"].startswith(
        "average pool" if avg_down else "strided 1x1 conv")
    _assert_matches_reference(network, state, layout, stride_in_1x1=False, conv2_scale=0.5)


def test_mmdetection_config_text_is_read_not_run():
    text = ("model = dict(backbone=dict(type='ResNetV1d', depth=50, strides=(1, 2, 2, 1),\n"
            "    dilations=(1, 1, 1, 2), norm_cfg=dict(type='GN', num_groups=32), "
            "style=__import__('os').system('x')), neck=dict(norm_cfg=dict(type='BN')))")
    assert mmdetection_backbone(text) == {"type": "ResNetV1d", "strides": (1, 2, 2, 1),
                                          "dilations": (1, 1, 1, 2), "norm_type": "GN",
                                          "norm_groups": 32}


# --- what the weights cannot prove, asserted against the frameworks' published values ---------

RED = np.zeros((32, 32, 3), np.uint8)
RED[..., 0] = 255  # pure red, RGB


@pytest.mark.parametrize("kind, order, mean, std", [
    # mmdetection's pytorch-style configs: img_norm_cfg / data_preprocessor, to_rgb=True
    ("mmdetection-pytorch", "RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    # mmdetection's caffe-style configs: mean [103.53, 116.28, 123.675], std 1, BGR
    ("mmdetection-caffe", "BGR", (103.53, 116.28, 123.675), (1.0, 1.0, 1.0)),
    # detectron2's defaults: PIXEL_MEAN [103.53, 116.28, 123.675], PIXEL_STD 1, INPUT.FORMAT BGR
    ("detectron2", "BGR", (103.53, 116.28, 123.675), (1.0, 1.0, 1.0)),
])
def test_each_format_normalises_as_its_framework_publishes(tmp_path, kind, order, mean, std):
    path = tmp_path / "model.pth"
    if kind == "detectron2":
        write_detectron2_pth(path, R_LAYOUT)
    else:
        style = kind.split("-")[1]
        torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5()), style=style), path)
    preprocessing = load_network(path).preprocessing
    assert (preprocessing.channel_order, preprocessing.mean, preprocessing.std) == (order, mean, std)
    assert (preprocessing.short_side, preprocessing.max_long_side) == (800, 1333)
    pixel = preprocessing.prepare(LoadedImage(RED, "red")).tensor[0, :, 0, 0]
    red_channel = 0 if order == "RGB" else 2
    expected = [(0.0 - m) / s for m, s in zip(mean, std)]
    expected[red_channel] = (255.0 - mean[red_channel]) / std[red_channel]
    torch.testing.assert_close(pixel, torch.tensor(expected), rtol=1e-5, atol=1e-4)


def test_offset_channels_that_fit_dcnv1_and_dcnv2_are_refused(tmp_path):
    """54 = 3 x 18 (DCNv1, 3 offset groups) = 2 x 27 (DCNv2, 2 offset groups)."""
    layout = Layout(widths=(12, 12, 12, 24), outs=(24, 24, 48, 48),
                    dcn={(3, 0): (True, 2)})
    torch.save({"state_dict": backbone_state(layout)}, tmp_path / "m.pth")
    with pytest.raises(CheckpointError) as caught:
        load_network(tmp_path / "m.pth")
    assert str(caught.value).endswith(
        "backbone.layer4.0.conv2.conv_offset.weight: 54 channels fit both DCNv1 with 3 offset "
        "groups and DCNv2 with 2; deformviz cannot tell which")


def test_key_summary_names_neck_and_heads(tmp_path):
    """detectron2 keeps its FPN inside `backbone.` (the ResNet is `backbone.bottom_up.`)."""
    write_detectron2_pth(tmp_path / "fpn.pth", R_LAYOUT)
    assert load_network(tmp_path / "fpn.pth").details["ignored keys"] == (
        "3 keys outside the backbone: neck 1 (FPN under backbone.: backbone.fpn*), "
        "heads 2 (proposal_generator, roi_heads)")
    torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5())), tmp_path / "mm.pth")
    assert load_network(tmp_path / "mm.pth").details["ignored keys"] == (
        "3 keys outside the backbone: neck 1 (neck.*), heads 2 (roi_head, rpn_head)")
