"""User boxes: reading them from JSON and checking them against the image.

Boxes are (x1, y1, x2, y2) in continuous original-image pixels (pixel i spans [i, i + 1)),
so the whole W x H image is (0, 0, W, H).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deformviz.errors import BoxError, InputError, finite_number

__all__ = ["check_boxes", "clip_boxes", "read_boxes_file"]


def _parse(boxes: Sequence[Sequence[object]]) -> np.ndarray:
    """[K, 4] float64 boxes of four finite numbers, in order, with area; else BoxError."""
    checked = []
    if hasattr(boxes, "tolist"):  # numpy arrays and torch tensors
        boxes = boxes.tolist()
    for index, box in enumerate(boxes):
        where = f"box {index + 1}"
        if hasattr(box, "tolist"):
            box = box.tolist()
        if isinstance(box, (str, bytes)) or not isinstance(box, Sequence) or len(box) != 4:
            raise BoxError(f"{where}: expected 4 numbers x1 y1 x2 y2, got {box!r}")
        x1, y1, x2, y2 = (finite_number(v, where, BoxError) for v in box)
        shown = _shown((x1, y1, x2, y2))
        if x2 < x1 or y2 < y1:
            raise BoxError(f"{where} {shown} is inverted: need x1 < x2 and y1 < y2")
        if x2 == x1 or y2 == y1:
            raise BoxError(f"{where} {shown} has zero area")
        checked.append((x1, y1, x2, y2))
    return np.array(checked, dtype=np.float64).reshape(-1, 4)


def _shown(box: Sequence[float]) -> str:
    return "({:g}, {:g}, {:g}, {:g})".format(*box)


def check_boxes(boxes: Sequence[Sequence[object]], image_size: tuple[int, int] | None,
                *, clip: bool = False) -> np.ndarray:
    """Validate boxes against an (H, W) image (None: no image yet, only sign, order, area).

    Args:
        clip: boxes crossing the image border are fine (`clip_boxes` cuts them): without an
            image, negative coordinates pass; with one, crossing boxes come back clipped.
    Returns:
        [K, 4] float64 (x1, y1, x2, y2).
    Raises:
        BoxError: a box without four finite numbers, inverted (x2 < x1 or y2 < y1), of zero
            width or height, or not inside [0, W] x [0, H] (with `clip`: wholly outside).
    """
    if clip and image_size is not None:
        return clip_boxes(boxes, image_size)[0]
    checked = _parse(boxes)
    for index, (x1, y1, x2, y2) in enumerate(checked):
        where, shown = f"box {index + 1}", _shown((x1, y1, x2, y2))
        if image_size is None:
            if min(x1, y1) < 0 and not clip:
                raise BoxError(f"{where} {shown} has negative coordinates; boxes are in image "
                               "pixels, 0 0 W H being the whole image")
            continue
        height, width = image_size
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise BoxError(f"{where} {shown} is outside the image ({width}x{height} pixels: "
                           f"boxes must lie within 0..{width} x 0..{height}; without "
                           "--no-clip, boxes crossing the border are clipped)")
    return checked


def clip_boxes(boxes: Sequence[Sequence[object]],
               image_size: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """Boxes that cross the border of the (H, W) image cut to it (a detector's boxes often
    spill a few pixels past it); a box with nothing inside the image stays an error.

    Returns:
        ([K, 4] float64 boxes inside the image, the 1-based numbers of the boxes clipped).
    Raises:
        BoxError: as `check_boxes`, and for a box wholly outside the image.
    """
    height, width = image_size
    raw = _parse(boxes)
    limits = np.array([width, height, width, height], dtype=np.float64)
    clipped = np.clip(raw, 0.0, limits)
    changed = [k + 1 for k in range(len(raw)) if not np.array_equal(raw[k], clipped[k])]
    for k in changed:
        x1, y1, x2, y2 = clipped[k - 1]
        if x2 <= x1 or y2 <= y1:
            raise BoxError(f"box {k} {_shown(raw[k - 1])} is outside the image ({width}x"
                           f"{height} pixels); no part of it is left to clip")
    return clipped, changed


def read_boxes_file(path: str | Path) -> list[list[object]]:
    """Boxes from a JSON file: `[[x1, y1, x2, y2], ...]`, `[{"box": [...]}, ...]` or
    `{"boxes": [...]}` with either kind of entry (the `boxes` of `--save-data` output too).

    Returns the raw entries (checked later with `check_boxes`, which knows the image size).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such boxes file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read boxes file ({error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    entries = data.get("boxes") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a list of boxes or {{\"boxes\": [...]}}")
    boxes = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            entry = entry.get("box")
        if not isinstance(entry, list):
            raise BoxError(f"{path}: box {index + 1} must be [x1, y1, x2, y2] or "
                           f"{{\"box\": [x1, y1, x2, y2]}}")
        boxes.append(entry)
    if not boxes:
        raise InputError(f"{path}: contains no boxes")
    return boxes
