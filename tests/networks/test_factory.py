"""Networks from the user's own code: --model-factory package.module:function [--weights]."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deformviz.errors import CheckpointError, InputError
from deformviz.networks import IMAGENET_RGB, load_network
from deformviz.networks.layer_family import find_layers

FACTORY = "tests.networks.user_networks:tiny_deform_net"


def test_factory_module_with_strict_weights(tmp_path):
    from tests.networks.user_networks import TinyDeformNet

    trained = TinyDeformNet()
    with torch.no_grad():
        trained.blocks[0].conv_offset.weight.normal_()
    torch.save(trained.state_dict(), tmp_path / "weights.pth")
    network = load_network(FACTORY, weights=tmp_path / "weights.pth")
    assert network.format == "factory" and network.source == FACTORY
    assert network.deformable_layers == ("blocks.0", "blocks.2")
    assert network.default_chain == ("blocks.0", "blocks.2")
    assert network.preprocessing == IMAGENET_RGB
    assert "torchvision's ImageNet default" in network.details["preprocessing"]
    assert torch.equal(network.module.blocks[0].conv_offset.weight,
                       trained.blocks[0].conv_offset.weight)
    assert not network.module.training


def test_weights_that_do_not_fit_are_named(tmp_path):
    torch.save({"stem.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"missing \(first stem.bias\)"):
        load_network(FACTORY, weights=tmp_path / "partial.pth")


def test_factory_preprocessing_and_overrides(tmp_path):
    network = load_network("tests.networks.user_networks:tiny_with_preprocessing")
    assert network.preprocessing.channel_order == "BGR"
    assert network.preprocessing.short_side == 256
    resized = load_network("tests.networks.user_networks:tiny_with_preprocessing",
                           short_side=320, max_long_side=640)
    assert (resized.preprocessing.short_side, resized.preprocessing.max_long_side) == (320, 640)
    assert resized.preprocessing.channel_order == "BGR"


def test_factory_from_a_file(tmp_path):
    source = tmp_path / "my_model.py"
    source.write_text("from deformviz.ops import DeformConv2dPack\n"
                      "def build():\n    return DeformConv2dPack(4, 4, 3, padding=2, dilation=2)\n")
    network = load_network(f"{source}:build")
    assert network.deformable_layers == ("",)  # the module itself is the deformable layer


@pytest.mark.parametrize("spec, message", [
    ("tests.networks.user_networks:not_a_module", "returned a value of type int, not a torch.nn.Module"),
    ("tests.networks.user_networks:broken", "failed: RuntimeError: CUDA out of memory"),
    ("tests.networks.user_networks:nothing", "has no function nothing"),
    ("no_such_package.models:build", "cannot import no_such_package.models"),
])
def test_factory_errors_are_one_line(spec, message):
    with pytest.raises(InputError, match=message) as caught:
        load_network(spec)
    assert "\n" not in str(caught.value)


def test_deformable_kinds_of_other_libraries_recognised_by_name():
    # Stand-ins named like torchvision's and mmcv's classes; those libraries are not imported.
    torchvision_like = type("DeformConv2d", (nn.Module,), {"__module__": "torchvision.ops.deform_conv"})
    mmcv_pack = type("ModulatedDeformConv2dPack",
                     (type("ModulatedDeformConv2d", (nn.Module,),
                           {"__module__": "mmcv.ops.modulated_deform_conv"}),),
                     {"__module__": "mmcv.ops.modulated_deform_conv"})
    model = nn.Sequential(nn.Conv2d(3, 3, 1), torchvision_like(), nn.ReLU(), mmcv_pack())
    assert find_layers(model).names == ("1", "3")
