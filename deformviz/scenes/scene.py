"""The ``Scene`` record: one generated image and its ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Scene:
    """One generated image with per-object ground truth.

    Attributes:
        image: uint8 [H, W, 3], RGB.
        masks: bool [N, H, W], visible mask of each object after occlusion; no pixel
            belongs to two objects.
        boxes: float32 [N, 4], (x1, y1, x2, y2) in image pixels, the tight box of each
            visible mask with x2/y2 exclusive (a one-pixel object at column c, row r has
            box (c, r, c+1, r+1)).
        classes: int64 [N], indices into the class-name tuple
            (:data:`deformviz.scenes.CLASS_NAMES`).
        seed: Generator seed the scene was made with.
        index: Scene number within that seed.
    """

    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    seed: int
    index: int

    @property
    def num_objects(self) -> int:
        """Number of objects N."""
        return int(self.classes.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.image.shape[0]), int(self.image.shape[1])


def tight_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight bounding box of each mask.

    Args:
        masks: bool [N, H, W]; each mask must be non-empty.

    Returns:
        float32 [N, 4], (x1, y1, x2, y2) in image pixels, x2/y2 exclusive.
    """
    boxes = np.zeros((masks.shape[0], 4), dtype=np.float32)
    for k, mask in enumerate(masks):
        cols = np.flatnonzero(mask.any(axis=0))
        rows = np.flatnonzero(mask.any(axis=1))
        if cols.size == 0:
            raise ValueError(f"mask {k} is empty")
        boxes[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes
