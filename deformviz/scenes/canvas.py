"""Painter's-algorithm compositing that keeps every placed object sufficiently visible.

Objects are painted one after another; a later object hides what it covers. The canvas
records, per pixel, which object is on top, so the visible masks after occlusion are exact.
A new object is refused if it would leave any earlier object with less than a given
fraction of its own area visible, so every painted object is in the ground truth and no
unlabelled object remains in the image.
"""

from __future__ import annotations

import numpy as np

#: Owner value of background pixels in :attr:`SceneCanvas.owner`.
BACKGROUND = -1


def masked_mean_color(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean colour under a mask, read on a subgrid of about 32 x 32 pixels for speed.

    Args:
        image: uint8 [h, w, 3].
        mask: bool [h, w]; must be non-empty.

    Returns:
        float32 [3], RGB in [0, 255].
    """
    step = max(1, min(mask.shape) // 32)
    sub = mask[::step, ::step]
    if not sub.any():  # thin shape missed by the subgrid
        step, sub = 1, mask
    return image[::step, ::step][sub].mean(axis=0, dtype=np.float32)


class SceneCanvas:
    """An image under construction plus per-pixel object ownership.

    Attributes:
        image: uint8 [H, W, 3], the composited image so far.
        owner: int16 [H, W], index of the object visible at each pixel, or BACKGROUND.
        areas: Full (unoccluded) pixel area of each placed object.
        visible: Currently visible pixel area of each placed object.
    """

    def __init__(self, background: np.ndarray) -> None:
        """Start from a background.

        Args:
            background: uint8 [H, W, 3]; copied.
        """
        self.image = np.array(background, dtype=np.uint8, copy=True)
        self.owner = np.full(self.image.shape[:2], BACKGROUND, dtype=np.int16)
        self.areas: list[int] = []
        self.visible: list[int] = []

    @property
    def num_objects(self) -> int:
        """Number of objects placed so far."""
        return len(self.areas)

    def mean_color_under(self, mask: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
        """Mean colour of the current image under a mask (estimated on a pixel subgrid).

        Args:
            mask: bool [y1 - y0, x1 - x0] over ``window``; must be non-empty.
            window: (x0, y0, x1, y1) in image pixels, x1/y1 exclusive.

        Returns:
            float32 [3], RGB in [0, 255].
        """
        x0, y0, x1, y1 = window
        return masked_mean_color(self.image[y0:y1, x0:x1], mask)

    def _hidden_counts(self, mask: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
        """Pixels of each placed object that ``mask`` would cover, int64 [num_objects]."""
        x0, y0, x1, y1 = window
        covered = self.owner[y0:y1, x0:x1][mask]
        covered = covered[covered != BACKGROUND]
        return np.bincount(covered, minlength=self.num_objects)

    def keeps_visible(
        self, mask: np.ndarray, window: tuple[int, int, int, int], min_visible_fraction: float
    ) -> bool:
        """Whether painting ``mask`` on top leaves every earlier object visible enough.

        Args:
            mask: bool [y1 - y0, x1 - x0], the new object's full mask over ``window``.
            window: (x0, y0, x1, y1) in image pixels, x1/y1 exclusive.
            min_visible_fraction: Every earlier object must keep at least this fraction of
                its full area visible.

        Returns:
            True if no earlier object would fall below the fraction.
        """
        if not self.areas:
            return True
        left = np.asarray(self.visible) - self._hidden_counts(mask, window)
        return bool(np.all(left >= min_visible_fraction * np.asarray(self.areas)))

    def paint(self, mask: np.ndarray, window: tuple[int, int, int, int], fill: np.ndarray) -> int:
        """Paint an object on top of everything placed so far.

        Args:
            mask: bool [y1 - y0, x1 - x0], the object's full mask over ``window``.
            window: (x0, y0, x1, y1) in image pixels, x1/y1 exclusive.
            fill: uint8 [y1 - y0, x1 - x0, 3], the object's texture over ``window``.

        Returns:
            The new object's index.
        """
        if self.areas:
            self.visible = (np.asarray(self.visible) - self._hidden_counts(mask, window)).tolist()
        x0, y0, x1, y1 = window
        np.copyto(self.owner[y0:y1, x0:x1], np.int16(self.num_objects), where=mask)
        np.copyto(self.image[y0:y1, x0:x1], fill, where=mask[..., None])
        area = int(np.count_nonzero(mask))
        self.areas.append(area)
        self.visible.append(area)
        return self.num_objects - 1

    def visible_masks(self) -> np.ndarray:
        """Visible mask of every placed object.

        Returns:
            bool [N, H, W]; no pixel is True in two masks.
        """
        ids = np.arange(self.num_objects, dtype=np.int16)
        return self.owner[None, :, :] == ids[:, None, None]
