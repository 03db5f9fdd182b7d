"""COCO segmentations -> binary object masks, cropped to where the object is.

COCO stores an object's segmentation in one of three ways:

- polygons: ``[[x1, y1, x2, y2, ...], ...]`` in continuous image pixels (pixel i spans
  [i, i + 1]); a pixel is in the object when its centre is inside a polygon (even-odd rule;
  COCO's own rasteriser differs from this by at most a pixel along the outline), and an
  object's several polygons are its parts (their union);
- uncompressed RLE: ``{"size": [H, W], "counts": [n0, n1, ...]}`` (see `deformviz.scenes.rle`);
- compressed RLE: the same with ``counts`` a string, COCO's own packing of the run lengths
  (5 bits a character, offset 48, a continuation bit, and run i stored as a difference from
  run i - 2 for i > 2), decoded by `decode_compressed_counts`.

A mask is kept as a `MaskCrop`: the pixels inside the mask's bounding rectangle and where that
rectangle sits, so the memory per image follows the objects' areas, not the image's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deformviz.scenes.rle import decode_mask

__all__ = ["MaskCrop", "decode_segmentation", "decode_compressed_counts", "encode_compressed_counts",
           "check_segmentation"]


@dataclass(frozen=True, eq=False)
class MaskCrop:
    """A binary mask stored as the crop that holds all its pixels.

    Attributes:
        top, left: image pixel (row, column) of the crop's first pixel.
        pixels: bool [h, w]; pixel (i, j) is image pixel (top + i, left + j).
    """

    top: int
    left: int
    pixels: np.ndarray

    @property
    def area(self) -> int:
        """Pixels in the mask."""
        return int(np.count_nonzero(self.pixels))

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether integer image pixels (rows, cols) are in the mask (False outside the crop)."""
        r, c = rows - self.top, cols - self.left
        height, width = self.pixels.shape
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        result = np.zeros(np.shape(rows), dtype=bool)
        result[inside] = self.pixels[r[inside], c[inside]]
        return result


def _crop(mask: np.ndarray) -> MaskCrop:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return MaskCrop(0, 0, np.zeros((0, 0), dtype=bool))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return MaskCrop(int(top), int(left), np.ascontiguousarray(mask[top:bottom, left:right]))


def decode_compressed_counts(text: str) -> list[int]:
    """Run lengths from COCO's compressed RLE string (the inverse of `encode_compressed_counts`).

    Example:
        >>> decode_compressed_counts(encode_compressed_counts([3, 5, 100, 2, 7]))
        [3, 5, 100, 2, 7]
    """
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("compressed RLE string ends inside a number")
            char = ord(text[position]) - 48
            if not 0 <= char < 64:
                raise ValueError(f"compressed RLE string has a character out of range: {text[position]!r}")
            value |= (char & 0x1F) << shift
            more = bool(char & 0x20)
            position += 1
            shift += 5
            if not more and char & 0x10:
                value |= -1 << shift  # sign extension of the last 5-bit group
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def encode_compressed_counts(counts: list[int]) -> str:
    """COCO's compressed RLE string of run lengths (for writing test files and round trips)."""
    chars = []
    for index, count in enumerate(counts):
        value = int(count) - (int(counts[index - 2]) if index > 2 else 0)
        more = True
        while more:
            char = value & 0x1F
            value >>= 5
            more = value != -1 if char & 0x10 else value != 0
            if more:
                char |= 0x20
            chars.append(chr(char + 48))
    return "".join(chars)


def check_segmentation(segmentation: Any, image_size: tuple[int, int]) -> str | None:
    """Why a segmentation cannot be decoded (one phrase), or None if its structure is sound.

    Checks structure only (cheap enough for every annotation before the run starts); run
    lengths that do not add up are found when the image is processed.
    """
    if isinstance(segmentation, list):
        if not segmentation:
            return None  # no polygon: the box stands in
        for polygon in segmentation:
            if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
                return "a polygon must be a list of at least 3 (x, y) pairs"
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                       for v in polygon):
                return "a polygon holds a value that is not a finite number"
        return None
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            return "RLE 'size' must be [height, width]"
        if tuple(size) != tuple(image_size):
            return f"RLE size {size[0]}x{size[1]} differs from the image's {image_size[0]}x{image_size[1]}"
        if isinstance(counts, str):
            return None
        if isinstance(counts, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                            for v in counts):
            return None
        return "RLE 'counts' must be a string or a list of non-negative integers"
    return "segmentation must be a list of polygons or an RLE object"


def decode_segmentation(segmentation: Any, image_size: tuple[int, int]) -> MaskCrop | None:
    """The mask of one annotation, or None when it has none (an empty polygon list).

    Args:
        segmentation: the annotation's "segmentation" (polygons or RLE, see the module doc).
        image_size: (H, W) of the image in pixels.
    Raises:
        ValueError: malformed segmentation (one line).
    """
    problem = check_segmentation(segmentation, image_size)
    if problem is not None:
        raise ValueError(problem)
    height, width = image_size
    if isinstance(segmentation, list):
        if not segmentation:
            return None
        polygons = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in segmentation]
        everything = np.concatenate(polygons)
        left = int(np.clip(np.floor(everything[:, 0].min()), 0, width))
        top = int(np.clip(np.floor(everything[:, 1].min()), 0, height))
        right = int(np.clip(np.ceil(everything[:, 0].max()), 0, width))
        bottom = int(np.clip(np.ceil(everything[:, 1].max()), 0, height))
        if right <= left or bottom <= top:
            return MaskCrop(0, 0, np.zeros((0, 0), dtype=bool))
        mask = np.zeros((bottom - top, right - left), dtype=bool)
        for polygon in polygons:  # an object's polygons are its separate parts: their union
            mask |= _rasterize(polygon, top, left, mask.shape)
        return _crop_shifted(mask, top, left)
    counts = segmentation["counts"]
    if isinstance(counts, str):
        counts = decode_compressed_counts(counts)
    mask = decode_mask({"size": [height, width], "counts": counts})
    return _crop(mask)


def _rasterize(polygon: np.ndarray, top: int, left: int, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre is inside `polygon` ([V, 2] (x, y) continuous), even-odd rule, by
    scanlines through the pixel centres: a crop of `shape` whose first pixel is (top, left)."""
    rows = top + np.arange(shape[0]) + 0.5  # continuous y of each row's centres
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    y = rows[:, None]
    crosses = ((y0 <= y) & (y < y1)) | ((y1 <= y) & (y < y0))  # [R, E], half-open: no double counts
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    xs = np.sort(np.where(crosses, xs, np.inf), axis=1)
    # Pixel c is inside a span [xa, xb) when xa <= c + 0.5 < xb: c from ceil(xa - 0.5) on.
    edges = np.zeros((shape[0], shape[1] + 1), dtype=np.int32)
    row_index = np.arange(shape[0])
    for k in range(0, xs.shape[1] - 1, 2):
        valid = np.isfinite(xs[:, k + 1])
        start = np.clip(np.ceil(xs[valid, k] - 0.5) - left, 0, shape[1]).astype(np.int64)
        stop = np.clip(np.ceil(xs[valid, k + 1] - 0.5) - left, 0, shape[1]).astype(np.int64)
        np.add.at(edges, (row_index[valid], start), 1)
        np.add.at(edges, (row_index[valid], stop), -1)
    return np.cumsum(edges, axis=1)[:, :-1] > 0


def _crop_shifted(mask: np.ndarray, top: int, left: int) -> MaskCrop:
    crop = _crop(mask)
    if crop.pixels.size == 0:
        return crop
    return MaskCrop(crop.top + top, crop.left + left, crop.pixels)
