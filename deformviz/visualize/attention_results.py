"""Deformable attention of chosen queries in original-image pixels: plain data (numpy, no
torch), what the attention figure and `--save-data` read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deformviz.imaging import LoadedImage

from .results import Detection

__all__ = ["AttentionUnit", "AttentionResult"]


@dataclass(frozen=True)
class AttentionUnit:
    """One query of one attention call.

    Attributes:
        layer: the attention module's qualified name.
        stage, index, role: "encoder"/"decoder", layer index in the stage, "self"/"cross".
        query: the query's index in the call.
        reference: (x, y) reference point, original-image pixels (index coordinates).
        reference_box: (x1, y1, x2, y2) continuous original pixels for a box reference.
        points: [M, L, K, 2] (x, y) sampling locations, original-image pixels (index coords);
            NaN where a level has fewer than K points (`point_mask`).
        weights: [M, L, K] attention weights as the attention used them (after its softmax);
            0 at those padded places.
        detection: the predicted box of this (decoder) query, if known.
    """

    layer: str
    stage: str
    index: int | None
    role: str
    query: int
    reference: tuple[float, float]
    reference_box: tuple[float, float, float, float] | None
    points: np.ndarray
    weights: np.ndarray
    detection: Detection | None = None

    @property
    def heads(self) -> int:
        return int(self.points.shape[0])

    @property
    def levels(self) -> int:
        return int(self.points.shape[1])

    @property
    def point_mask(self) -> np.ndarray:
        """[M, L, K] bool: True at real sampling points, False at a level's padding."""
        return np.isfinite(self.points).all(axis=-1)


@dataclass(frozen=True)
class AttentionResult:
    """Queries of a deformable-attention network on one image.

    Attributes:
        image: the original image the pixels refer to.
        model_name: what the network is called in titles and exports.
        input_size: (H, W) of the (padded) model input tensor.
        resized_size: (H, W) of the image inside it (before padding).
        level_shapes: (H_l, W_l) of each level, feature cells.
        level_strides: (sy, sx) model-input pixels per cell of each level.
        units: the queries, in the order asked for.
        preprocessing: how the network prepared the image (`ImagePreparation.to_dict`: a
            Hugging Face model's processor class, size, mean and std), or None.
    """

    image: LoadedImage
    model_name: str
    input_size: tuple[int, int]
    resized_size: tuple[int, int]
    level_shapes: tuple[tuple[int, int], ...]
    level_strides: tuple[tuple[float, float], ...]
    units: tuple[AttentionUnit, ...]
    preprocessing: dict | None = None
