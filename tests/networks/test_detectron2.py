"""detectron2 checkpoints (.pkl of numpy arrays, .pth) load strictly into the rebuilt backbone."""

from __future__ import annotations

import pickle

import pytest
import torch

from deformviz.errors import CheckpointError
from deformviz.networks import load_network
from deformviz.networks.preprocessing import CAFFE_BGR
from deformviz.networks.resnet import FrozenBatchNorm2d

from .published_layouts import (Layout, dcn_c3_c5, detectron2_model, write_detectron2_pkl,
                                write_detectron2_pth)

LAYOUT = Layout(naming="detectron2", dcn=dcn_c3_c5(modulated=True, groups=2),
                batch_counters=False)


def assert_every_backbone_key_used(network, state: dict) -> None:
    module_state = network.module.state_dict()
    prefix = LAYOUT.key_prefix
    used = set()
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        target = key[len(prefix):].replace(".conv2_offset.", ".conv2.conv_offset.")
        assert torch.equal(module_state[target], value), key
        used.add(target)
    assert set(module_state) == used


@pytest.mark.parametrize("old_numpy_path", [False, True])
def test_model_zoo_pkl_of_numpy_arrays_loads_strictly(tmp_path, old_numpy_path):
    path = tmp_path / "model_final_65c703.pkl"
    model = write_detectron2_pkl(path, LAYOUT, protocol=2, old_numpy_path=old_numpy_path)
    network = load_network(path)
    assert_every_backbone_key_used(network, model)
    assert network.format == "detectron2"
    assert network.architecture == "ResNet-50, caffe style (stride on the 1x1), DCNv2 in c3-c5"
    assert network.default_chain == ("res5.0.conv2", "res5.1.conv2", "res5.2.conv2")
    assert network.deformable_layers[0] == "res3.0.conv2"
    assert network.module.res3[0].conv1.stride == (2, 2)  # STRIDE_IN_1X1 by default
    assert network.module.res3[0].conv2.stride == (1, 1)
    assert isinstance(network.module.res3[0].conv2.norm, FrozenBatchNorm2d)
    assert network.preprocessing == CAFFE_BGR
    assert network.details["res3.0.conv2"] == (
        "DCNv2, 2 offset groups, stride 1, dilation 1, groups 1, 8 channels, input stride 8 px")
    assert network.details["ignored keys"].startswith("3 keys outside the backbone")


def test_training_output_pth_and_stride_option(tmp_path):
    model = write_detectron2_pth(tmp_path / "model_final.pth", LAYOUT)
    network = load_network(tmp_path / "model_final.pth", stride_in_1x1=False)
    assert_every_backbone_key_used(network, model)
    assert network.module.res3[0].conv2.stride == (2, 2)
    assert network.architecture.startswith("ResNet-50, pytorch style")
    assert "{'model', 'optimizer', 'scheduler', 'iteration'}" in network.details["file"]


def test_highest_protocol_pickle_loads_too(tmp_path):
    path = tmp_path / "new.pkl"
    model = write_detectron2_pkl(path, LAYOUT, protocol=pickle.HIGHEST_PROTOCOL)
    assert_every_backbone_key_used(load_network(path), model)


def test_c4_model_res5_from_the_roi_head(tmp_path):
    layout = Layout(naming="detectron2", dcn=dcn_c3_c5(), prefix="backbone.", batch_counters=False)
    model = detectron2_model(layout)
    c4 = {(k.replace("backbone.res5", "roi_heads.res5")): v for k, v in model.items()}
    torch.save({"model": c4}, tmp_path / "c4.pth")
    network = load_network(tmp_path / "c4.pth")
    state = network.module.state_dict()
    assert torch.equal(state["res5.0.conv2.conv_offset.weight"],
                       c4["roi_heads.res5.0.conv2_offset.weight"])
    assert torch.equal(state["res4.0.conv1.weight"], c4["backbone.res4.0.conv1.weight"])
    assert "run on the whole res4 map" in network.details["C4 model"]
    assert "about 224 px" in network.details["C4 model"]
    broken = {k: v for k, v in c4.items() if k != "roi_heads.res5.1.conv3.weight"}
    torch.save({"model": broken}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="roi_heads.res5.1.conv3.weight is missing"):
        load_network(tmp_path / "broken.pth")


def test_plain_model_is_explained(tmp_path):
    plain = write_detectron2_pth(tmp_path / "plain.pth", Layout(naming="detectron2",
                                                                 batch_counters=False))
    assert plain
    with pytest.raises(CheckpointError, match="the keys look like a plain ResNet-50"):
        load_network(tmp_path / "plain.pth")
