"""The notebook path on a loaded network: probe an image once, ask for units, every level
mapped with its own layer's grid and the resize."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deformviz.networks import load_network
from deformviz.geometry import trace_chain
from deformviz.probe import LayerNameError
from deformviz.visualize import probe_image, sample_locations
from tests.networks.published_layouts import Layout, dcn_c3_c5, mmdetection_checkpoint


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "caffe.pth"
    torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5())), path)
    return load_network(path, style="caffe", short_side=160)


def test_one_forward_pass_many_questions(network, samples: Path, monkeypatch) -> None:
    probed = probe_image(network, samples / "chelsea.jpg")
    calls = []
    monkeypatch.setattr(network.module, "forward", lambda *a: calls.append(a))
    a = probed.sample(at=[(200, 150)], levels=3)
    b = probed.sample(layers=["layer3.5.conv2", "res5a", "res5b"], auto=2, levels=3)
    assert calls == []  # asking for units runs nothing
    assert a.layer_names == ("res5a", "res5b", "res5c") and b.layer_names[0] == "res4f"
    assert [s.points[-1].shape for s in b.samplings] == [(729, 2)] * 2
    with pytest.raises(LayerNameError, match="no deformable layer named"):
        probed.sample(layers=["res6a"])


def test_each_level_maps_with_its_own_layers_grid(network, samples: Path) -> None:
    probed = probe_image(network, samples / "coffee.jpg")
    result = probed.sample(at=[(300, 200)], layers=["layer3.5.conv2", "res5a"], levels=2)
    (sampling,) = result.samplings
    records = probed.chain(["layer3.5.conv2", "res5a"])
    assert [r.input_grid.stride for r in records] == [(16.0, 16.0), (32.0, 32.0)]  # caffe
    traced = trace_chain([r.chain_layer(0) for r in records], sampling.unit.cell, 2)
    (oh, ow), (rh, rw) = probed.image.size, probed.resized_size
    for level, record in zip((1, 2), reversed(records)):
        cells = traced.points[level - 1].double()
        stride = record.input_grid.stride[0]
        expected_x = (cells[:, 1] * stride + 0.5) * ow / rw - 0.5
        expected_y = (cells[:, 0] * stride + 0.5) * oh / rh - 0.5
        np.testing.assert_allclose(sampling.points[level - 1][:, 0], expected_x.numpy(), atol=1e-6)
        np.testing.assert_allclose(sampling.points[level - 1][:, 1], expected_y.numpy(), atol=1e-6)
    # The unit sits on the top layer's OUTPUT grid (stride 32), nearest the asked pixel.
    ux, uy = sampling.unit.pixel
    assert abs(ux - 300) <= 16 * ow / rw + 1e-6 and abs(uy - 200) <= 16 * oh / rh + 1e-6


def test_sample_locations_in_one_call(network, samples: Path) -> None:
    result = sample_locations(network, samples / "chelsea.jpg", grid_step=2, levels=1)
    assert result.mode == "grid" and len(result.samplings) > 4
    assert result.preprocessing["short_side"] == 160 and result.modulated is False
