"""The one resize between an original image and a network's input, as one object.

`ImageResize` is to deformviz what segment-anything's `ResizeLongestSide` is to SAM: the same
object sizes the model input (`longer_side_to`, `shorter_side_to`), resizes the pixels
(`apply_image`) and maps points and boxes both ways. Preprocessing (`deformviz.imaging`,
`deformviz.networks.Preprocessing`) builds it; `deformviz.imaging.ModelInput` carries it;
`deformviz.geometry.FeatureToImage` applies it after a map's grid.

Conventions: points are (y, x) in index coordinates (pixel i's centre at i); boxes are
(x1, y1, x2, y2) in continuous coordinates (pixel i spans [i, i + 1)). Resizing is
centre-aligned (Pillow's convention): model-input pixel q covers original pixel
(q + 0.5) * factor - 0.5, factor = original / resized per axis. Works on numpy arrays and on
torch tensors alike (without importing torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deformviz.errors import InputError

__all__ = ["ImageResize"]


def _pair(value: float | tuple[float, float]) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in pair):
        raise ValueError(f"resize must be a positive number or a pair of them, got {value!r}")
    return float(pair[0]), float(pair[1])


def _like(values, numbers: list[float]):
    """`numbers` as a tensor like `values` (torch) or a float64 array (numpy)."""
    new_tensor = getattr(values, "new_tensor", None)
    return new_tensor(numbers) if new_tensor is not None else np.asarray(numbers, np.float64)


@dataclass(frozen=True)
class ImageResize:
    """original pixels <-> model-input pixels, per axis (y, x).

    Attributes:
        factor: (ry, rx) original pixels per model-input pixel; a number is expanded.
        original_size: (H, W) of the original image, where known (None: a factor alone).
        resized_size: (h, w) of the resized image, where known.

    Example:
        >>> resize = ImageResize.longer_side_to((300, 451), 512)
        >>> resize.resized_size
        (336, 512)
        >>> resize.boxes_to_input(np.array([[0.0, 0.0, 451.0, 300.0]])).tolist()
        [[0.0, 0.0, 512.0, 336.0]]
    """

    factor: tuple[float, float] = (1.0, 1.0)
    original_size: tuple[int, int] | None = None
    resized_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "factor", _pair(self.factor))
        if (self.original_size is None) != (self.resized_size is None):
            raise ValueError("give both original_size and resized_size, or neither")

    @classmethod
    def between(cls, original_size: tuple[int, int], resized_size: tuple[int, int]) -> ImageResize:
        """The resize from `original_size` to `resized_size` ((height, width) in pixels)."""
        original = (int(original_size[0]), int(original_size[1]))
        resized = (int(resized_size[0]), int(resized_size[1]))
        return cls((original[0] / resized[0], original[1] / resized[1]), original, resized)

    @classmethod
    def longer_side_to(cls, size: tuple[int, int], long_side: int,
                       multiple: int = 16) -> ImageResize:
        """The longer side becomes `long_side`, the other keeps the aspect ratio as well as
        rounding both to multiples of `multiple` allows (at least `multiple`): the bundled
        detector's resize."""
        height, width = size
        scale = long_side / max(height, width)
        resized = tuple(max(multiple, int(round(side * scale / multiple)) * multiple)
                        for side in (height, width))
        return cls.between(size, resized)  # type: ignore[arg-type]

    @classmethod
    def shorter_side_to(cls, size: tuple[int, int], short_side: int | None,
                        max_long_side: int | None) -> ImageResize:
        """The shorter side becomes `short_side` unless the longer would then exceed
        `max_long_side` (then the longer becomes that); sides rounded to the nearest pixel, at
        least 1; None leaves that limit out: mmdetection's and detectron2's test resize."""
        height, width = size
        scale = 1.0 if short_side is None else short_side / min(height, width)
        if max_long_side is not None and max(height, width) * scale > max_long_side:
            scale = max_long_side / max(height, width)
        return cls.between(size, (max(1, int(height * scale + 0.5)),
                                  max(1, int(width * scale + 0.5))))

    def apply_image(self, pixels: np.ndarray) -> np.ndarray:
        """[H, W, 3] uint8 -> [h, w, 3] uint8, bilinear (Pillow's, centre-aligned and
        antialiased when shrinking); `pixels` themselves when the size is unchanged."""
        if self.resized_size is None:
            raise InputError("a resize given by its factor alone cannot resize pixels")
        height, width = self.resized_size
        if (height, width) == tuple(pixels.shape[:2]):
            return pixels
        from PIL import Image  # pixels only; mapping coordinates needs no imaging library

        resized = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(resized)

    def points_to_original(self, points):
        """[..., 2] (y, x) model-input pixels -> original pixels (index coordinates)."""
        return (points + 0.5) * _like(points, list(self.factor)) - 0.5

    def points_to_input(self, points):
        """[..., 2] (y, x) original pixels -> model-input pixels; inverse of
        `points_to_original`."""
        return (points + 0.5) / _like(points, list(self.factor)) - 0.5

    def _box_factor(self, boxes):
        ry, rx = self.factor
        return _like(boxes, [rx, ry, rx, ry])

    def boxes_to_original(self, boxes):
        """[..., 4] (x1, y1, x2, y2) continuous model-input pixels -> original pixels (a
        list or array comes back as float64 numpy)."""
        if getattr(boxes, "new_tensor", None) is None:
            boxes = np.asarray(boxes, dtype=np.float64)
        return boxes * self._box_factor(boxes)

    def boxes_to_input(self, boxes):
        """[..., 4] continuous original pixels -> model-input pixels; inverse of
        `boxes_to_original`."""
        if getattr(boxes, "new_tensor", None) is None:
            boxes = np.asarray(boxes, dtype=np.float64)
        return boxes / self._box_factor(boxes)
