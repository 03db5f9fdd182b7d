"""Where the cells of one feature map sit on the model input: a stride and an origin per axis.

A map's grid is what a network's convolution arithmetic did to the image grid: every conv or
pooling layer with kernel k, stride s, padding p and dilation d centres output cell o on input
cell o * s - p + d * (k - 1) / 2, so the output grid is

    stride_out = stride_in * s,    origin_out = origin_in + stride_in * (d * (k - 1) / 2 - p).

Starting from the model input itself (stride 1, origin 0), this gives every map's grid
(`deformviz.probe.grids` applies it to the layers a forward pass ran). ResNets come out at
origin 0 on every map; TF 'SAME' padded networks do not, and say so themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["MapGrid"]


def _pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) for v in pair):
        raise ValueError(f"{name} must be a number or a pair of numbers, got {value!r}")
    return float(pair[0]), float(pair[1])


@dataclass(frozen=True)
class MapGrid:
    """Cell p of a map is centred at model-input pixel p * stride + origin (index coordinates:
    pixel i's centre is at i), per axis (y, x).

    Attributes:
        stride: (sy, sx), model-input pixels per cell. A number is expanded.
        origin: (oy, ox), the model-input pixel on which cell 0 is centred. A number is expanded.

    Example:
        >>> image = MapGrid.image()
        >>> stem = image.after(kernel=(7, 7), stride=(2, 2), padding=(3, 3), dilation=(1, 1))
        >>> stem
        MapGrid(stride=(2.0, 2.0), origin=(0.0, 0.0))
        >>> stem.after((1, 1), (2, 2), (0, 0), (1, 1)).cells_to_pixels((3.0, 5.0))
        (12.0, 20.0)
    """

    stride: tuple[float, float]
    origin: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _pair(self.stride, "stride"))
        object.__setattr__(self, "origin", _pair(self.origin, "origin"))
        if min(self.stride) <= 0:
            raise ValueError(f"stride must be positive, got {self.stride}")

    @classmethod
    def image(cls) -> MapGrid:
        """The model input's own grid: stride 1, origin 0."""
        return cls((1.0, 1.0), (0.0, 0.0))

    def after(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
              dilation: tuple[int, int]) -> MapGrid:
        """The grid of the output map of a layer (pairs (y, x)) applied to a map on this grid."""
        strides = tuple(s_in * s for s_in, s in zip(self.stride, stride))
        origins = tuple(o_in + s_in * (d * (k - 1) / 2 - p) for o_in, s_in, k, p, d in
                        zip(self.origin, self.stride, kernel, padding, dilation))
        return MapGrid(strides, origins)  # type: ignore[arg-type]

    def cells_to_pixels(self, cell: tuple[float, float]) -> tuple[float, float]:
        """One (y, x) cell position -> (y, x) model-input pixels."""
        return (cell[0] * self.stride[0] + self.origin[0], cell[1] * self.stride[1] + self.origin[1])

    def to_pixels(self, points: Tensor) -> Tensor:
        """[..., 2] (y, x) cells -> [..., 2] (y, x) model-input pixels."""
        return points * points.new_tensor(self.stride) + points.new_tensor(self.origin)

    def to_cells(self, points: Tensor) -> Tensor:
        """[..., 2] (y, x) model-input pixels -> [..., 2] (y, x) cells (fractional)."""
        return (points - points.new_tensor(self.origin)) / points.new_tensor(self.stride)

    @property
    def roi_shift(self) -> tuple[float, float]:
        """(y, x) model-input pixels by which cell centres sit past the aligned RoI operators'
        convention, cell = box / stride - 0.5: origin - (stride - 1) / 2 (0 for a ResNet's
        stride-s map at origin (s - 1) / 2; 7.5 for the TF-'SAME' trunk's origin 15)."""
        return (self.origin[0] - (self.stride[0] - 1) / 2,
                self.origin[1] - (self.stride[1] - 1) / 2)

    def boxes_for_roi_pool(self, boxes: Tensor) -> Tensor:
        """Boxes [..., 4] (x1, y1, x2, y2) in model-input pixels, moved by -`roi_shift` so that
        an aligned RoI operator's cells (box / stride - 0.5) land on this grid's cells."""
        shift_y, shift_x = self.roi_shift
        return boxes - boxes.new_tensor([shift_x, shift_y, shift_x, shift_y])

    def describe(self) -> str:
        """"stride 16" or "stride 16 x 8, origin 15" style text for people."""
        stride = (f"{self.stride[0]:g}" if self.stride[0] == self.stride[1]
                  else f"{self.stride[0]:g} x {self.stride[1]:g}")
        if self.origin == (0.0, 0.0):
            return f"stride {stride}"
        origin = (f"{self.origin[0]:g}" if self.origin[0] == self.origin[1]
                  else f"({self.origin[0]:g}, {self.origin[1]:g})")
        return f"stride {stride}, origin {origin}"
