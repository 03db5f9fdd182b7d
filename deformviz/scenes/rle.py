"""Run-length encoding of binary masks in COCO's uncompressed format.

A mask [H, W] is flattened in column-major (Fortran) order and stored as
``{"size": [H, W], "counts": [n0, n1, n2, ...]}``: n0 pixels of 0, then n1 of 1, then n2 of
0, and so on (n0 may be 0). This is the layout ``pycocotools.mask.frPyObjects`` accepts for
uncompressed RLE, so the JSON stays readable by COCO tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Encode one binary mask.

    Args:
        mask: bool [H, W].

    Returns:
        ``{"size": [H, W], "counts": [int, ...]}`` (plain Python ints, JSON-ready).
    """
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode one mask written by :func:`encode_mask`.

    Args:
        rle: ``{"size": [H, W], "counts": [...]}``.

    Returns:
        bool [H, W].

    Raises:
        ValueError: If the counts do not add up to H * W.
    """
    height, width = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"RLE counts sum to {counts.sum()}, expected {height * width}")
    values = (np.arange(counts.size) % 2).astype(bool)
    flat = np.repeat(values, counts)
    return flat.reshape((width, height)).T.copy()
