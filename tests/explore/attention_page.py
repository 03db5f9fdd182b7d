"""Shared pieces of the attention explore tests: a small random Deformable DETR folder, an
image, the probed pass `sample` makes, and reading the page's embedded arrays back."""

from __future__ import annotations

import base64

import numpy as np

from tests.networks.transformers_folders import write_folder

__all__ = ["write_folder", "decoded", "unit_points", "TOLERANCE"]

TOLERANCE = 1e-3  # pixels: the page carries float32 of the float64 points


def decoded(encoded: dict) -> np.ndarray:
    """An `encode_float32` dict back to its float32 array."""
    values = np.frombuffer(base64.b64decode(encoded["float32"]), dtype="<f4")
    return values.reshape(encoded["shape"])


def unit_points(probed, layer: str, **choice) -> tuple[int, np.ndarray, np.ndarray, tuple]:
    """(query, points [M, L, K, 2], weights [M, L, K], reference) of the one unit
    `attention_units(probed, layer=layer, **choice)` gives: what `sample` draws."""
    from deformviz.visualize.attention_sampling import attention_units

    (unit,) = attention_units(probed, layer=layer, **choice).units
    return unit.query, unit.points, unit.weights, unit.reference
