"""Deformable attention results as JSON (`--save-data`), in original-image pixels.

Layout: a header (deformviz version, model, image, model input, the levels' sizes and
strides, the conventions) and one entry per unit:

    {"kind": "attention", "layer": "...", "stage": "decoder", "index": 5, "role": "cross",
     "query": 17, "reference": [x, y] or [x1, y1, x2, y2], "reference_type": "point" | "box",
     "reference_point": [x, y], "points": [heads][levels][points] of [x, y],
     "weights": [heads][levels][points], "detection": {...} or null}
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deformviz import __version__
from deformviz.atomic_files import atomic_write
from deformviz.errors import OutputError

from .attention_results import AttentionResult, AttentionUnit
from .results import BOX_CONVENTION, POINT_CONVENTION

__all__ = ["attention_to_dict", "save_attention_data", "ATTENTION_CONVENTIONS"]

ATTENTION_CONVENTIONS = {
    "points": POINT_CONVENTION,
    "boxes": BOX_CONVENTION,
    "weights": ("attention weights as the attention used them: after its softmax over "
                "levels x points of each head, never renormalised"),
    "nesting": ("points and weights are [heads][levels][points]; levels finest first; a "
                "level's list holds its own number of points (D-FINE: e.g. 3, 6, 3)"),
    "locations": ("the attention samples level l at normalised (u, v) of its padded map "
                  "(grid_sample, align_corners=False): cell (u W_l - 0.5, v H_l - 0.5), "
                  "model-input pixel = cell * stride_l + origin_l (the network's conv "
                  "arithmetic), original pixel = (input + 0.5) * original / resized - 0.5"),
}


def _per_level(values: np.ndarray, mask: np.ndarray) -> list:
    """[heads][levels][points] lists of the real points only: a level with fewer points
    (D-FINE) has a shorter list, not padding."""
    return [[values[head, level][mask[head, level]].tolist()
             for level in range(mask.shape[1])] for head in range(mask.shape[0])]


def _unit(unit: AttentionUnit) -> dict:
    box = unit.reference_box
    detection = unit.detection
    return {
        "kind": "attention", "layer": unit.layer, "stage": unit.stage, "index": unit.index,
        "role": unit.role, "query": unit.query,
        "reference": list(box) if box is not None else list(unit.reference),
        "reference_type": "box" if box is not None else "point",
        "reference_point": list(unit.reference),
        "points": _per_level(unit.points, unit.point_mask),
        "weights": _per_level(unit.weights, unit.point_mask),
        "detection": None if detection is None else {
            "box": list(detection.box), "label": detection.label, "score": detection.score},
    }


def attention_to_dict(result: AttentionResult) -> dict:
    """A JSON-ready dict of `result` (see the module docstring for the layout).

    Example:
        >>> import numpy as np
        >>> from deformviz.imaging import LoadedImage
        >>> unit = AttentionUnit("decoder.layers.0.cross_attn", "decoder", 0, "cross", 3,
        ...                      (10.0, 20.0), None, np.zeros((1, 1, 2, 2)),
        ...                      np.full((1, 1, 2), 0.5))
        >>> image = LoadedImage(np.zeros((40, 60, 3), np.uint8), "photo.jpg")
        >>> data = attention_to_dict(AttentionResult(image, "net", (40, 60), (40, 60),
        ...                                          ((5, 8),), ((8.0, 8.0),), (unit,)))
        >>> data["units"][0]["reference"], data["units"][0]["weights"]
        ([10.0, 20.0], [[[0.5, 0.5]]])
    """
    height, width = result.image.size
    return {
        "deformviz": __version__, "kind": "attention", "model": result.model_name,
        "image": {"path": result.image.name, "width": width, "height": height},
        "model_input": {"width": result.input_size[1], "height": result.input_size[0]},
        "resized": {"width": result.resized_size[1], "height": result.resized_size[0]},
        "preprocessing": result.preprocessing,
        "levels": [{"shape": list(shape), "stride": list(stride)}
                   for shape, stride in zip(result.level_shapes, result.level_strides)],
        "conventions": dict(ATTENTION_CONVENTIONS),
        "units": [_unit(unit) for unit in result.units],
    }


def save_attention_data(result: AttentionResult, path: str | Path) -> Path:
    """Write `result` as JSON to `path`, atomically (never half-written). Returns the path.

    Raises:
        OutputError: the extension is not .json.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise OutputError(f"{path}: attention data is written as .json")
    payload = json.dumps(attention_to_dict(result), indent=1).encode()
    with atomic_write(path) as handle:
        handle.write(payload)
    return path
