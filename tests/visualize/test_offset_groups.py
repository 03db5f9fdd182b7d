"""Several offset groups: one chosen group, or all of them told apart by marker."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from deformviz.errors import InputError
from deformviz.imaging import prepare_for_model
from deformviz.ops import DeformConv2dPack
from deformviz.plotting.sampling import GROUP_MARKERS, plot_sampling
from deformviz.visualize import probe_image
from deformviz.visualize.export import encode_data


class _Resize:
    def prepare(self, image):
        return prepare_for_model(image, 64)


def _two_group_network() -> nn.Module:
    """A stride-2 conv, then a deformable 3x3 whose group 0 moves every tap 1 cell down and
    group 1 every tap 2 cells right (offset biases, zero weights)."""
    deform = DeformConv2dPack(8, 8, 3, padding=1, offset_groups=2)
    with torch.no_grad():
        deform.conv_offset.weight.zero_()
        bias = torch.zeros(2 * 2 * 9)
        bias[0:18:2] = 1.0     # group 0: dy = 1 for each tap
        bias[18 + 1::2] = 2.0  # group 1: dx = 2 for each tap
        deform.conv_offset.bias.copy_(bias)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), deform).eval()


@pytest.fixture(scope="module")
def probed():
    pixels = np.full((48, 64, 3), 128, dtype=np.uint8)
    return probe_image(_two_group_network(), pixels, preprocessing=_Resize())


def test_each_group_follows_its_own_offsets(probed):
    group0 = probed.sample(at=[(30, 24)], group=0).samplings[0]
    group1 = probed.sample(at=[(30, 24)], group=1).samplings[0]
    assert (group0.offset_group, group1.offset_group) == (0, 1)
    # input cells are 2 pixels: group 0 is 2 px lower, group 1 is 4 px further right
    np.testing.assert_allclose(group0.points[0] - group1.points[0], [[-4.0, 2.0]] * 9)
    with pytest.raises(InputError, match=r"offset group 2: the chain's layers have 2 offset groups"):
        probed.sample(at=[(30, 24)], group=2)


def test_all_groups_one_panel_per_unit(probed):
    result = probed.sample(at=[(30, 24), (10, 10)], group="all")
    assert result.offset_groups == (0, 1)
    assert [[s.offset_group for s in panel] for panel in result.panels] == [[0, 1], [0, 1]]
    data = json.loads(encode_data(result, "json"))
    assert data["offset_groups"] == [0, 1]
    assert [u["offset_group"] for u in data["units"]] == [0, 1, 0, 1]

    figure = plot_sampling(result, 6.0, fig=Figure())
    axes = [ax for ax in figure.axes if ax.images]
    assert len(axes) == 2  # one panel per unit, not per group
    shapes = [c.get_paths()[0].vertices.shape[0] for c in axes[0].collections
              if c.get_gid() == "level1"]
    assert len(shapes) == 2 and shapes[0] != shapes[1]  # a square and a triangle
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "offset group 0" in labels and "offset group 1" in labels
    with pytest.raises(InputError, match="all offset groups in one panel are drawn as points"):
        plot_sampling(result, 6.0, style="hull", fig=Figure())


def test_one_group_of_several_is_named_in_the_legend(probed):
    figure = plot_sampling(probed.sample(at=[(30, 24)], group=1), 3.0, fig=Figure())
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "offset group 1 of 2" in labels
    assert GROUP_MARKERS[0] == "s"
