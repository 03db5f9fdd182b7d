"""Model factories as a user would write them, for the factory tests."""

from __future__ import annotations

import torch
from torch import nn

from deformviz.networks import Preprocessing
from deformviz.ops import DeformConv2dPack


class TinyDeformNet(nn.Module):
    """conv -> two deformable 3x3 layers (the second strided, modulated) -> conv."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(DeformConv2dPack(8, 8, 3, padding=1),
                                    nn.ReLU(),
                                    DeformConv2dPack(8, 8, 3, stride=2, padding=1, modulated=True))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def tiny_deform_net() -> nn.Module:
    torch.manual_seed(0)
    return TinyDeformNet()


def tiny_with_preprocessing():
    return TinyDeformNet(), Preprocessing("BGR", (0.0, 0.0, 0.0), (255.0, 255.0, 255.0), 256, 512)


def not_a_module():
    return 42


def broken():
    raise RuntimeError("CUDA out of memory, pretend")


class HistoryBuffer:
    """Like mmengine's: an object a training framework saves next to the weights. Any of its
    code running while a checkpoint is read would create `RAN_MARKER`."""

    RAN_MARKER: str | None = None

    def __init__(self, values=(0.5, 0.25)) -> None:
        self.values = list(values)

    def __setstate__(self, state) -> None:
        if HistoryBuffer.RAN_MARKER:
            open(HistoryBuffer.RAN_MARKER, "w").close()
        self.__dict__.update(state)
