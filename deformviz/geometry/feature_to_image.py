"""Feature cells of one map <-> pixels of the original image: the map's grid, then the resize.

Step 1 is the map's grid (stride and origin, `MapGrid`); step 2 is the one `ImageResize`
between the original image and the model input (`deformviz.image_resize`, the same object the
preprocessing made). See `FeatureToImage` for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deformviz.image_resize import ImageResize

__all__ = ["FeatureToImage"]


def _float_pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive number or a pair of them, got {value!r}")
    return float(pair[0]), float(pair[1])




@dataclass(frozen=True)
class FeatureToImage:
    """Feature cells of one map <-> pixels of the original image.

    Two steps, in index coordinates (pixel or cell i has its centre at i):

    1. feature cell p -> model-input pixel q = p * stride + origin, where `origin` is the
       model-input pixel on which cell 0 is centred. The usual convention, a cell centred on
       the stride x stride block it summarises, is origin = (stride - 1) / 2 (the default), so
       q = (p + 0.5) * stride - 0.5. Networks with TF 'SAME' padding sit elsewhere (the
       EfficientNet trunk: origin 15 at stride 16); build those with `from_grid`.
    2. model-input pixel q -> original-image pixel r = (q + 0.5) * resize - 0.5, where
       resize = original_size / resized_size per axis undoes a resize done before the model
       (the centre-aligned convention of image resampling): `image_resize`, the one
       `ImageResize` that the preprocessing made.

    With resize = (1, 1) "image" means the model input.

    Attributes:
        stride: (stride_y, stride_x), model-input pixels per feature cell. A number is expanded.
        resize: (orig_h / resized_h, orig_w / resized_w). A number is expanded; an
            `ImageResize` gives its factor.
        origin: (origin_y, origin_x), the model-input pixel of cell 0's centre; a number is
            expanded; None (the default) means (stride - 1) / 2 per axis.

    Example:
        >>> FeatureToImage(16).to_image(torch.tensor([3.0, 5.0])).tolist()
        [55.5, 87.5]
        >>> FeatureToImage(16, origin=15).to_image(torch.tensor([3.0, 5.0])).tolist()
        [63.0, 95.0]
    """

    stride: tuple[float, float]
    resize: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _float_pair(self.stride, "stride"))
        resize = self.resize.factor if isinstance(self.resize, ImageResize) else self.resize
        object.__setattr__(self, "resize", _float_pair(resize, "resize"))
        origin = self.origin
        if origin is None:
            origin = ((self.stride[0] - 1) / 2, (self.stride[1] - 1) / 2)
        elif isinstance(origin, (int, float)):
            origin = (origin, origin)
        if len(origin) != 2 or not all(isinstance(v, (int, float)) for v in origin):
            raise ValueError(f"origin must be a number or a pair of numbers, got {self.origin!r}")
        object.__setattr__(self, "origin", (float(origin[0]), float(origin[1])))

    @classmethod
    def from_sizes(cls, stride: float | tuple[float, float], resized_size: tuple[int, int],
                   original_size: tuple[int, int],
                   origin: float | tuple[float, float] | None = None) -> FeatureToImage:
        """The mapping for a model that saw the image resized from `original_size` to
        `resized_size` (both (height, width) in pixels)."""
        return cls(stride, ImageResize.between(original_size, resized_size), origin)  # type: ignore[arg-type]

    @classmethod
    def from_grid(cls, grid: object, resized_size: tuple[int, int] | None = None,
                  original_size: tuple[int, int] | None = None, *,
                  resize: ImageResize | None = None) -> FeatureToImage:
        """The one way to build the mapping of a map's cells: its grid (a `MapGrid`, or anything
        with `stride` and `origin`), then the resize: `resize` (e.g. `ModelInput.image_resize`)
        or the one from `original_size` to `resized_size` ((height, width) in pixels; both or
        neither).

        Example:
            >>> from types import SimpleNamespace
            >>> grid = SimpleNamespace(stride=16, origin=15.0)
            >>> m = FeatureToImage.from_grid(grid, resized_size=(32, 64), original_size=(64, 64))
            >>> m.to_image(torch.tensor([1.0, 1.0])).tolist()
            [62.5, 31.0]
        """
        if (resized_size is None) != (original_size is None):
            raise ValueError("give both resized_size and original_size, or neither")
        if resize is not None and resized_size is not None:
            raise ValueError("give the resize or the two sizes, not both")
        stride, origin = getattr(grid, "stride"), getattr(grid, "origin")
        if resized_size is not None:
            resize = ImageResize.between(original_size, resized_size)  # type: ignore[arg-type]
        return cls(stride, resize or ImageResize(), origin)  # type: ignore[arg-type]

    @property
    def image_resize(self) -> ImageResize:
        """Step 2 as the one resize object (its factor; the sizes are not kept here)."""
        return ImageResize(self.resize)

    @property
    def scale(self) -> tuple[float, float]:
        """(y, x) original-image pixels per feature cell."""
        return self.stride[0] * self.resize[0], self.stride[1] * self.resize[1]

    @property
    def shift(self) -> tuple[float, float]:
        """(y, x) model-input pixels by which cell centres sit past the usual convention:
        origin - (stride - 1) / 2 (0 for the default origin)."""
        assert self.origin is not None
        return (self.origin[0] - (self.stride[0] - 1) / 2,
                self.origin[1] - (self.stride[1] - 1) / 2)

    def to_image(self, points: Tensor) -> Tensor:
        """Feature-cell points -> original-image pixels.

        Args:
            points: [..., 2] (y, x) in feature cells (index coordinates).
        Returns:
            [..., 2] (y, x) in original-image pixels (index coordinates: pixel i's centre at i).
        """
        model_input = points * points.new_tensor(self.stride) + points.new_tensor(self.origin)
        return self.resized_to_original(model_input)

    def to_feature(self, points: Tensor) -> Tensor:
        """Original-image pixels -> feature cells; the inverse of `to_image`.

        Args:
            points: [..., 2] (y, x) in original-image pixels (index coordinates).
        Returns:
            [..., 2] (y, x) in feature cells, fractional.
        """
        model_input = self.image_resize.points_to_input(points)
        return (model_input - points.new_tensor(self.origin)) / points.new_tensor(self.stride)

    def resized_to_original(self, points: Tensor) -> Tensor:
        """Model-input pixels -> original-image pixels ((q + 0.5) * resize - 0.5).

        Args:
            points: [..., 2] (y, x) in model-input pixels (index coordinates).
        Returns:
            [..., 2] (y, x) in original-image pixels.
        """
        return self.image_resize.points_to_original(points)

    def lengths_to_image(self, lengths: Tensor) -> Tensor:
        """Displacements (no alignment shift): [..., 2] (dy, dx) cells -> original pixels."""
        return lengths * lengths.new_tensor(self.scale)

    def boxes_to_image(self, boxes: Tensor) -> Tensor:
        """Boxes in aligned-RoI feature coordinates -> continuous original-image boxes.

        Detectors give boxes in continuous pixel coordinates (pixel i spans [i, i + 1]) and the
        aligned RoI operators map them to cells by `cell = box / stride - 0.5`, which assumes
        the default origin. For another origin the boxes handed to the operator must first be
        moved by -`shift` (what `MapGrid.boxes_for_roi_pool` does); this adds it back. The
        inverse, followed by the resize (continuous coordinates simply scale), is
        `box = ((cell + 0.5) * stride + shift) * resize`. Note this is 0.5 pixel right of /
        below `to_image` of the same numbers: boxes are edges in continuous coordinates, points
        are centres in index coordinates. To draw both over an image shown with pixel i centred
        at i, subtract 0.5 from the boxes.

        Args:
            boxes: [..., 4] (x1, y1, x2, y2) in feature cells (aligned-RoI coordinates).
        Returns:
            [..., 4] (x1, y1, x2, y2) in continuous original-image pixels.
        """
        stride, shift = self._box_pairs(boxes)
        return self.image_resize.boxes_to_original((boxes + 0.5) * stride + shift)

    def boxes_to_feature(self, boxes: Tensor) -> Tensor:
        """Continuous original-image boxes -> aligned-RoI feature coordinates; the inverse of
        `boxes_to_image`.

        Args:
            boxes: [..., 4] (x1, y1, x2, y2) in continuous original-image pixels.
        Returns:
            [..., 4] (x1, y1, x2, y2) in feature cells.
        """
        stride, shift = self._box_pairs(boxes)
        return (self.image_resize.boxes_to_input(boxes) - shift) / stride - 0.5

    def _box_pairs(self, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """(stride, shift) laid out as (x1, y1, x2, y2), like `boxes`."""
        (sy, sx), (hy, hx) = self.stride, self.shift
        return boxes.new_tensor([sx, sy, sx, sy]), boxes.new_tensor([hx, hy, hx, hy])
