"""Images of different sizes through the network at once, padded as the network's own batching
pads them, and each image's chain cut back to the maps it would have had alone.

Padding: mmdetection (its data preprocessor) and detectron2 (`ImageList.from_tensors`) put a
batch's images at the top left of one tensor as large as the largest of them, rounded up to the
network's size divisor, and fill the rest with zeros after normalisation. `pad_batch` does the
same with the network's `InputPadding`: a loaded network's input is already normalised (fill 0,
divisor 32 by default); the bundled detector normalises inside its forward pass, so its fill is
the value that normalises to 0 (mid-grey, the fill its own TF 'SAME' padding amounts to), and
its divisor is its stride (16).

Cutting back: padding adds rows and columns at the bottom and right only, so cell (y, x) of every
map sits where it sits alone; each layer of an image's chain keeps the cells whose centres lie
on that image's own input (`own_chain`). They are exactly the units the image has alone (same
count, same grids, same size classes), and the units on the batch's padding are never counted.

What padding changes, and what it does not:
- Identical: which units exist, where they sit, their object and size class, the rigid filter.
  An image as large as its batch's padded input meets the network exactly as alone (up to the
  rounding of batched arithmetic).
- Not identical: the offsets of units whose receptive field reaches past the image's own input.
  Alone, a layer's padding reads zeros in feature space there; in a batch it reads what the
  network computed on the fill (biases, batch-norm shifts), and deformable layers may sample it.
  Convolutions spread this from the bottom and right borders inwards by their receptive field,
  so units near those borders change most. Layers that pool over the whole map (GroupNorm,
  global pooling, squeeze-and-excitation) see the fill everywhere: with them every unit may
  change. The tests and `benchmarks/bench_stats.py` measure how far the batched table moves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from deformviz.geometry import ChainLayer, MapGrid

__all__ = ["InputPadding", "pad_batch", "own_map_size", "own_chain"]


@dataclass(frozen=True)
class InputPadding:
    """How a network pads its batches.

    Attributes:
        divisor: padded sides are multiples of this (model-input pixels).
        fill: per channel, the value of padded pixels in the network's input units (what
            normalises to 0).
    """

    divisor: int
    fill: tuple[float, float, float] = (0.0, 0.0, 0.0)


def pad_batch(inputs: Sequence[Tensor], padding: InputPadding) -> Tensor:
    """One batch from prepared inputs of any sizes, each at the top left.

    Args:
        inputs: [1, C, h_i, w_i] per image (C = len(padding.fill)).
    Returns:
        [B, C, H, W]: H, W the largest h_i, w_i rounded up to a multiple of `padding.divisor`,
        `padding.fill` outside each image.

    Example:
        >>> batch = pad_batch([torch.ones(1, 3, 32, 48), torch.ones(1, 3, 40, 16)],
        ...                   InputPadding(16, (0.5, 0.5, 0.5)))
        >>> tuple(batch.shape), float(batch[1, 0, 39, 15]), float(batch[1, 0, 40, 15])
        ((2, 3, 48, 48), 1.0, 0.5)
    """
    height = -(-max(int(t.shape[-2]) for t in inputs) // padding.divisor) * padding.divisor
    width = -(-max(int(t.shape[-1]) for t in inputs) // padding.divisor) * padding.divisor
    first = inputs[0]
    fill = torch.tensor(padding.fill, dtype=first.dtype, device=first.device)
    batch = fill.view(1, -1, 1, 1).expand(len(inputs), -1, height, width).clone()
    for index, tensor in enumerate(inputs):
        batch[index, :, :tensor.shape[-2], :tensor.shape[-1]] = tensor[0]
    return batch


def own_map_size(grid: MapGrid, input_size: tuple[int, int], limit: tuple[int, int]
                 ) -> tuple[int, int] | None:
    """Cells of a map on `grid` whose centres lie on an (H, W) model input, per axis, at most
    `limit` (the batched map's size); None when the input's sides are not multiples of the
    grid's stride: a map's size alone is then a matter of each layer's rounding (floor or
    ceiling), which the batched map does not show.

    Example:
        >>> own_map_size(MapGrid(32, 0), (800, 1088), (40, 40))  # ResNet's res5 at stride 32
        (25, 34)
    """
    size = []
    for side, stride, origin, most in zip(input_size, grid.stride, grid.origin, limit):
        if side % stride:
            return None
        size.append(min(most, max(0, math.ceil((side - origin) / stride))))
    return size[0], size[1]


def own_chain(chain: Sequence[ChainLayer], input_size: tuple[int, int]) -> list[ChainLayer] | None:
    """An image's chain from a padded batch, cut to the maps it has on its own (H, W) input.

    Args:
        chain: the image's layers from the batch, bottom to top; offsets [2GK, Hb, Wb].
        input_size: (H, W) model-input pixels of the image's own (unbatched) input.
    Returns:
        The layers with offsets and masks [.., h, w] (the image's own output maps) and its own
        input sizes, grids unchanged; None when a size is not determined (`own_map_size`) or
        does not follow from the layer's own arithmetic: then the image must run alone.
    """
    own = []
    for layer in chain:
        output = own_map_size(layer.output_grid, input_size, layer.output_size)
        source = own_map_size(layer.input_grid, input_size, layer.input_size)
        if output is None or source is None or layer.geometry.output_size(source) != output:
            return None
        rows, cols = output
        own.append(replace(layer, offset=layer.offset[..., :rows, :cols],
                           mask=None if layer.mask is None else layer.mask[..., :rows, :cols],
                           input_size=source))
    return own
