"""Map grids from conv arithmetic: ResNet stems, functional pooling, TF 'SAME' padding (the
bundled trunk, without being told), and the fallback when a resize breaks the chain."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deformviz.geometry import MapGrid
from deformviz.ops import DeformConv2dPack
from deformviz.probe import probe
from deformviz.probe.grids import ConvArithmetic, derive_grids


def test_resnet_stem_with_functional_max_pool_keeps_origin_zero() -> None:
    class Stem(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 7, 2, 3)
            self.reduce = nn.Conv2d(4, 4, 1, stride=2)  # caffe-style strided 1x1
            self.dcn = DeformConv2dPack(4, 4, 3, padding=1)

        def forward(self, x):
            x = F.max_pool2d(self.conv1(x), kernel_size=3, stride=2, padding=1)
            return self.dcn(self.reduce(x))

    (record,) = probe(Stem().eval(), torch.zeros(1, 3, 64, 96)).layers
    assert record.input_size == (8, 12)
    assert record.input_grid == MapGrid(8, 0) and record.output_grid == MapGrid(8, 0)


def test_valid_convolutions_move_the_origin() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, stride=2),
                        DeformConv2dPack(4, 4, 3)).eval()
    (record,) = probe(net, torch.zeros(1, 3, 33, 33)).layers
    # 3x3 valid: origin 1; then stride 2 valid: origin 1 + 1 = 2; the DCN (valid) adds 1 x 2.
    assert record.input_grid == MapGrid(2, 2) and record.output_grid == MapGrid(2, 4)


def test_the_bundled_trunk_grid_is_derived_from_its_tf_same_padding(test_model) -> None:
    """Without the network's own word (no overrides), the F.pad calls of the TF-'SAME' trunk
    put the stage's grid where the network says it is: stride 16, origin 15."""
    image = torch.zeros(1, 3, 96, 160)
    result = probe(test_model, image)
    grid = test_model.feature_grid((96, 160))
    assert [r.input_grid for r in result.layers] == [MapGrid(grid.stride, grid.origin)] * 3


def test_overrides_win_and_unreachable_maps_fall_back_with_a_note() -> None:
    grids = derive_grids((32, 32), [ConvArithmetic((32, 32), (16, 16), (3, 3), (2, 2), (1, 1),
                                                   (1, 1))], {(16, 16): MapGrid(2, 0.5)})
    assert grids[(16, 16)] == MapGrid(2, 0.5)

    class Resized(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dcn = DeformConv2dPack(3, 3, 3, padding=1)

        def forward(self, x):
            return self.dcn(F.interpolate(x, scale_factor=0.25, mode="bilinear"))

    result = probe(Resized().eval(), torch.zeros(1, 3, 64, 64))
    assert result.layers[0].input_grid == MapGrid(4, 1.5)
    assert "no conv arithmetic leads to" in result.notes[0]
