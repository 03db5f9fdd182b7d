"""The bundled trunk's input sides: multiples of its stride (where its feature cells sit is a
`deformviz.geometry.MapGrid`, `DeformableDetector.feature_grid`)."""

from __future__ import annotations


def check_input_side(side: int, stride: int, minimum: int) -> None:
    """Raises ValueError unless an input side (pixels) is a multiple of `stride` and >= `minimum`.

    Any other side would shift the feature grid (its origin assumes multiples of the stride).
    """
    if side < minimum or side % stride:
        raise ValueError(f"image_size must be a multiple of {stride} and at least {minimum}, got {side}")
