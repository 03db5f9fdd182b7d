"""A head's deformable layer runs once per pyramid level (FCOS/ATSS/RepPoints heads with DCN):
each call is chosen by its level, `name@p4`, and maps to pixels with that level's grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deformviz.imaging import prepare_for_model
from deformviz.ops import DeformConv2dPack
from deformviz.probe import LayerNameError, probe
from deformviz.visualize import probe_image


class _ConvModule(nn.Module):
    """mmcv's ConvModule: the conv as `.conv`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = DeformConv2dPack(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class FPNWithDeformableHead(nn.Module):
    """p3, p4, p5 (strides 8, 16, 32) and a head whose two stacked deformable convs run on
    every level, as mmdetection's FCOS head with DCN on its cls_convs does."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(*(nn.Conv2d(3 if i == 0 else 4, 4, 3, 2, 1) for i in range(3)))
        self.down4 = nn.Conv2d(4, 4, 3, 2, 1)
        self.down5 = nn.Conv2d(4, 4, 3, 2, 1)
        self.bbox_head = nn.Module()
        self.bbox_head.cls_convs = nn.ModuleList([_ConvModule(), _ConvModule()])
        for module in self.bbox_head.cls_convs:  # zero offsets: the rigid 3x3 grid
            nn.init.zeros_(module.conv.conv_offset.weight)
            nn.init.zeros_(module.conv.conv_offset.bias)

    def forward(self, x):
        p3 = self.backbone(x)
        p4 = self.down4(p3)
        p5 = self.down5(p4)
        outputs = []
        for feature in (p3, p4, p5):
            for conv in self.bbox_head.cls_convs:
                feature = conv(feature)
            outputs.append(feature)
        return outputs


def test_calls_are_named_by_level():
    result = probe(FPNWithDeformableHead().eval(), torch.rand(1, 3, 128, 128))
    assert result.names[:3] == ("bbox_head.cls_convs.0.conv", "bbox_head.cls_convs.1.conv",
                                "bbox_head.cls_convs.0.conv#2")
    p4 = result.find("cls_convs.0.conv@p4")
    assert p4.name == "bbox_head.cls_convs.0.conv#2" and p4.input_size == (8, 8)
    assert result.find("bbox_head.cls_convs.1.conv@p5").input_grid.stride == (32.0, 32.0)
    assert result.label("bbox_head.cls_convs.0.conv#3") == "bbox_head.cls_convs.0.conv@p5"
    with pytest.raises(LayerNameError, match=r"is called once per pyramid level \(p3, p4, p5\); "
                                             r"name one, e.g. bbox_head.cls_convs.0.conv@p4"):
        result.find("cls_convs.0.conv")
    with pytest.raises(LayerNameError, match=r"runs at p3, p4, p5, not at p6"):
        result.find("cls_convs.0.conv@p6")
    with pytest.raises(LayerNameError, match="a pyramid level is written p3, p4"):
        result.find("cls_convs.0.conv@4")
    chain = result.chain(["cls_convs.1.conv@p4", "cls_convs.0.conv@p4"])
    assert [r.name for r in chain] == ["bbox_head.cls_convs.0.conv#2",
                                       "bbox_head.cls_convs.1.conv#2"]


class _Resize:
    def prepare(self, image):
        return prepare_for_model(image, 128)


@pytest.mark.parametrize("level, stride", [(3, 8), (4, 16), (5, 32)])
def test_each_level_maps_with_its_own_grid(level, stride):
    probed = probe_image(FPNWithDeformableHead().eval(), np.zeros((128, 128, 3), np.uint8),
                         preprocessing=_Resize())
    result = probed.sample(at=[(64, 64)], layers=[f"cls_convs.0.conv@p{level}",
                                                  f"cls_convs.1.conv@p{level}"])
    assert result.layer_names == (f"bbox_head.cls_convs.0.conv@p{level}",
                                  f"bbox_head.cls_convs.1.conv@p{level}")
    sampling = result.samplings[0]
    unit = np.asarray(sampling.unit.pixel)
    # zero offsets: the rigid 3x3 taps, one cell of this level apart
    offsets = np.sort(np.unique(np.round(sampling.points[0] - unit, 6)))
    np.testing.assert_allclose(offsets, [-stride, 0, stride])
    assert sampling.points[1].shape == (81, 2)
