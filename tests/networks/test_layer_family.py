"""find_layers: convolutions if a module has any, else its deformable attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deformviz.networks import as_network
from deformviz.networks.layer_family import default_attention_layer, find_layers
from deformviz.networks.preprocessing import IMAGENET_RGB
from deformviz.ops import DeformConv2d


def test_attention_modules_when_there_are_no_deformable_convs():
    pytest.importorskip("transformers")
    from tests.probe.attention_models import deformable_detr

    model = deformable_detr()
    found = find_layers(model)
    assert found.family == "attention"
    assert found.names[0] == "model.encoder.layers.0.self_attn"
    assert found.default_chain == ("model.decoder.layers.1.encoder_attn",)
    network = as_network(model, IMAGENET_RGB)
    assert network.family == "attention" and network.detection_head is not None
    assert network.detection_head.class_names == tuple(model.config.id2label.values())
    # Both families in one module: read as convolutions, the attention named as unprobed.
    mixed = nn.Sequential(DeformConv2d(3, 4, 3, padding=1), model)
    both = find_layers(mixed)
    assert both.family == "convolution" and both.names == ("0",)
    assert both.unprobed == tuple(f"1.{name}" for name in found.names)


def test_plain_modules_and_default_layer():
    assert find_layers(nn.Conv2d(3, 3, 1)) == find_layers(nn.Sequential())
    assert find_layers(nn.Conv2d(3, 3, 1)).family == "convolution"
    names = ("encoder.layers.0.attn", "decoder.layers.0.cross", "decoder.layers.1.cross")
    assert default_attention_layer(names) == ("decoder.layers.1.cross",)
    assert default_attention_layer(names[:1]) == ("encoder.layers.0.attn",)
