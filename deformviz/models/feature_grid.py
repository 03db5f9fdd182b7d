"""Where a network's feature cells sit on its input image."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


def check_input_side(side: int, stride: int, minimum: int) -> None:
    """Raises ValueError unless an input side (pixels) is a multiple of `stride` and >= `minimum`.

    Any other side would shift the grid below (the origin assumes multiples of the stride).
    """
    if side < minimum or side % stride:
        raise ValueError(f"image_size must be a multiple of {stride} and at least {minimum}, got {side}")


@dataclass(frozen=True)
class FeatureGrid:
    """Feature cell (y, x) is centred on input pixel (stride * y + origin, stride * x + origin),
    in pixel-index coordinates (pixel k's centre is k; boxes use continuous coordinates where
    pixel k spans [k, k + 1)).

    The usual convention, (cell + 0.5) * stride - 0.5, is origin = (stride - 1) / 2. The
    EfficientNet trunk's TF 'SAME' padding shifts it: origin = 15 at stride 16 for input sides
    that are multiples of 16.
    """

    stride: int
    origin: float

    def cells_to_pixels(self, cells: Tensor) -> Tensor:
        """Points [..., 2] in feature cells -> input pixel indices (same axis order)."""
        return cells * self.stride + self.origin

    def pixels_to_cells(self, pixels: Tensor) -> Tensor:
        """Points [..., 2] in input pixel indices -> feature cells (fractional)."""
        return (pixels - self.origin) / self.stride

    def boxes_for_roi_pool(self, boxes: Tensor) -> Tensor:
        """Boxes [..., 4] (x1, y1, x2, y2) in input pixels, shifted so that deform_roi_pool's
        aligned convention (box / stride - 0.5 = cells) lands on this grid's cells."""
        return boxes - (self.origin - (self.stride - 1) / 2)

    def feature_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the feature map for an (H, W) input (TF 'SAME': ceil)."""
        return tuple(-(-side // self.stride) for side in image_size)  # type: ignore[return-value]

