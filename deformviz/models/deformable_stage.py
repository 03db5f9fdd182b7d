"""The paper's res5 stage: three stacked 3x3 deformable convolutions at one resolution."""

from __future__ import annotations

from torch import Tensor, nn

from deformviz.geometry import DeformLayerGeometry
from deformviz.ops import DeformConv2dPack

LAYER_NAMES = ("res5a", "res5b", "res5c")


class DeformableStage(nn.Module):
    """1x1 reduction, then three residual 3x3 deformable convs (dilation 2, stride 1), like
    res5a/b/c of the paper's R-FCN (all at the trunk's stride).

    Each layer predicts its offsets with a zero-initialised conv, so training starts from a
    plain dilated convolution. With `deformable=False` the offset convs are frozen at zero: the
    plain twin used to measure what deformation buys.

    Shape:
        [B, in_channels, h, w] -> [B, channels, h, w] (feature cells; stride unchanged).
    """

    def __init__(self, in_channels: int, channels: int, deformable: bool = True,
                 modulated: bool = False) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False),
                                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.layers = nn.ModuleList(
            DeformConv2dPack(channels, channels, 3, padding=2, dilation=2, bias=False,
                             modulated=modulated) for _ in LAYER_NAMES)
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in LAYER_NAMES)
        self.deformable = deformable
        if not deformable:
            for layer in self.layers:
                layer.conv_offset.requires_grad_(False)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return LAYER_NAMES

    def layer_geometry(self) -> list[DeformLayerGeometry]:
        """The geometry of each deformable layer, bottom to top."""
        return [DeformLayerGeometry(kernel_size=layer.kernel_size, stride=layer.stride,
                                    padding=layer.padding, dilation=layer.dilation,
                                    offset_groups=layer.offset_groups) for layer in self.layers]

    def forward(self, x: Tensor) -> Tensor:
        x = self.reduce(x)
        for layer, norm in zip(self.layers, self.norms):
            # Residual, as in ResNet's res5 blocks: keeps training stable from the start.
            x = (x + norm(layer(x))).relu()
        return x
