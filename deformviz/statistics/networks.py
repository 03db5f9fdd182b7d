"""Networks as chains: how an image is prepared for a network, and what its chain captured.

A `ChainNetwork` is what a statistics run needs of a network, bundled or loaded: `prepare`
(picklable: it runs in DataLoader workers) turns a LoadedImage into the network's input, and
`chain` runs the network on that input and returns the chain's layers with their offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from deformviz.imaging import LoadedImage, prepare_for_model

from .chain import ChainLayer, Grid

__all__ = ["ChainNetwork", "BundledNetwork", "ResizeLongSide"]


class ChainNetwork(Protocol):
    """What a statistics run needs of a network."""

    layer_names: tuple[str, ...]  # the chain, bottom to top
    description: dict[str, Any]  # what identifies it in results (model, input size, layers)

    def prepare(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        """[1, 3, h, w] input, and the (h', w') the image was resized to before padding."""

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        """Run the network on one prepared input; the chain's layers, bottom to top."""


@dataclass(frozen=True)
class ResizeLongSide:
    """The bundled network's preparation: longer side to `long_side`, sides multiples of 16,
    RGB in [0, 1] (`deformviz.imaging.prepare_for_model`). Picklable for workers."""

    long_side: int

    def __call__(self, image: LoadedImage) -> tuple[torch.Tensor, tuple[int, int]]:
        prepared = prepare_for_model(image, self.long_side)
        return prepared.tensor, prepared.resized_size  # type: ignore[return-value]


class BundledNetwork:
    """The bundled detector (or any `DeformableDetector`): its res5a-c stage is the chain.

    Args:
        model: the detector, eval mode, on `device`.
        name: what to record as the model (registered name or weights file).
        long_side: model-input pixels of the longer image side (multiple of 16).
        device: where the network runs.
    """

    def __init__(self, model: Any, name: str, long_side: int = 512, device: str = "cpu") -> None:
        self.model = model
        self.layer_names = tuple(model.stage.layer_names)
        self.prepare = ResizeLongSide(long_side)
        self.device = torch.device(device)
        self.description = {"model": name, "input": f"longer side {long_side} px",
                            "layers": list(self.layer_names)}

    def chain(self, tensor: torch.Tensor) -> list[ChainLayer]:
        from deformviz.capture import capture_dense  # the model side: imported when used

        capture = capture_dense(self.model, tensor.to(self.device))
        grid = Grid.of(capture.grid)
        layers = []
        for name, geometry, offset, mask in zip(capture.layer_names, capture.layers,
                                                capture.offsets, capture.masks):
            size = (int(offset.shape[-2]), int(offset.shape[-1]))
            # The stage keeps its map size (stride 1, padding = dilation), so input = output.
            layers.append(ChainLayer(name, geometry, offset, mask, size, size, grid, grid))
        return layers
