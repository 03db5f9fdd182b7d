"""Saving results as data (JSON or NPZ by extension) so users can plot in their own style.

JSON holds everything, nested: for sampling locations also the traced layers with their
geometry and grids (`chain`) and how the image was prepared (`preprocessing`). NPZ holds the same: the arrays under flat names
(`unit{i}_level{l}_points`, ... or `boxes`, `regular_bins`, `deformed_bins`) and everything
else as a JSON string under `meta`, so `numpy.load(path)` needs no pickle.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from deformviz import __version__
from deformviz.atomic_files import atomic_write
from deformviz.errors import OutputError

from .results import (BOX_CONVENTION, POINT_CONVENTION, Detection, LayerInfo, RoIResult,
                      SamplingResult, Unit)

__all__ = ["DATA_FORMATS", "data_format", "result_to_dict", "save_data"]

DATA_FORMATS = (".json", ".npz")


def data_format(path: str | Path) -> str:
    """"json" or "npz" from the file extension, else OutputError."""
    suffix = Path(path).suffix.lower()
    if suffix not in DATA_FORMATS:
        raise OutputError(f"{path}: unknown data format {suffix or '(no extension)'!r}; "
                          "use .json or .npz")
    return suffix[1:]


def _detection(det: Detection | None) -> dict | None:
    return None if det is None else {"box": list(det.box), "label": det.label, "score": det.score}


def _unit(unit: Unit) -> dict:
    return {"cell": list(unit.cell), "pixel": list(unit.pixel), "role": unit.role,
            "detection": _detection(unit.detection)}


def _layer(layer: LayerInfo) -> dict:
    extra = {} if layer.offset_scale is None else {"offset_scale": layer.offset_scale}
    return {"name": layer.name, "label": layer.label, "kind": layer.kind,
            "version": layer.version or ("DCNv2" if layer.modulated else "DCNv1"), **extra,
            "kernel_size": list(layer.kernel_size), "stride": list(layer.stride),
            "padding": list(layer.padding), "dilation": list(layer.dilation),
            "offset_groups": layer.offset_groups, "weight_groups": layer.weight_groups,
            "input_size": list(layer.input_size), "output_size": list(layer.output_size),
            "input_grid": {"stride": list(layer.input_stride), "origin": list(layer.input_origin)},
            "output_grid": {"stride": list(layer.output_stride),
                            "origin": list(layer.output_origin)}}


def _header(result: SamplingResult | RoIResult, kind: str) -> dict:
    height, width = result.image.size
    return {
        "deformviz": __version__, "kind": kind, "model": result.model_name,
        "image": {"path": result.image.name, "width": width, "height": height},
        "model_input": {"width": result.input_size[1], "height": result.input_size[0]},
        "conventions": {"points": POINT_CONVENTION, "boxes": BOX_CONVENTION,
                        "cells": "(y, x) indices of the top deformable layer's output map"},
    }


def result_to_dict(result: SamplingResult | RoIResult, arrays: bool = True) -> dict:
    """A JSON-ready dict of `result`; with arrays=False the per-point arrays are left out."""
    if isinstance(result, SamplingResult):
        data = _header(result, "sampling_locations")
        data.update(layers=list(result.layer_names), levels=result.levels, mode=result.mode,
                    chain=[_layer(layer) for layer in result.layers],
                    preprocessing=result.preprocessing,
                    offset_groups=list(result.offset_groups),
                    network=result.network,
                    detections=[_detection(d) for d in result.detections], units=[])
        data["conventions"]["grids"] = ("cell p of a map is centred at model-input pixel "
                                        "p * stride + origin, (y, x)")
        data["conventions"]["model_input"] = ("model-input pixel q is original pixel "
                                              "(q + 0.5) * original / resized - 0.5")
        for sampling in result.samplings:
            entry = {**_unit(sampling.unit), "offset_group": sampling.offset_group,
                     "effective_dilation": sampling.effective_dilation}
            if arrays:
                entry["levels"] = [
                    {"level": level + 1, "layer": result.layer_names[-(level + 1)],
                     "points": sampling.points[level].tolist(),
                     "parents": sampling.parents[level].tolist(),
                     "active": sampling.active[level].tolist(),
                     "weights": sampling.weights[level].tolist()}
                    for level in range(sampling.levels)]
            data["units"].append(entry)
        return data
    data = _header(result, "roi_bins")
    data.update(output_size=list(result.output_size), gamma=result.gamma, boxes=[])
    for box in result.boxes:
        entry = {"box": list(box.box), "label": box.label, "score": box.score,
                 "source": box.source, "detection": _detection(box.detection)}
        if arrays:
            entry.update(regular_bins=box.regular.tolist(), deformed_bins=box.deformed.tolist())
        data["boxes"].append(entry)
    return data


def _npz_arrays(result: SamplingResult | RoIResult) -> dict[str, np.ndarray]:
    if isinstance(result, SamplingResult):
        arrays = {}
        for i, sampling in enumerate(result.samplings):
            for level in range(sampling.levels):
                prefix = f"unit{i}_level{level + 1}"
                arrays[f"{prefix}_points"] = sampling.points[level]
                arrays[f"{prefix}_parents"] = sampling.parents[level]
                arrays[f"{prefix}_active"] = sampling.active[level]
                arrays[f"{prefix}_weights"] = sampling.weights[level]
        return arrays
    k = result.output_size
    return {
        "boxes": np.array([b.box for b in result.boxes], dtype=np.float64).reshape(-1, 4),
        "scores": np.array([b.score for b in result.boxes], dtype=np.float64),
        "regular_bins": np.array([b.regular for b in result.boxes]).reshape(-1, *k, 4),
        "deformed_bins": np.array([b.deformed for b in result.boxes]).reshape(-1, *k, 4),
    }


def encode_data(result: SamplingResult | RoIResult, fmt: str) -> bytes:
    """The bytes `save_data` writes for format "json" or "npz"."""
    if fmt == "json":
        # Compact: a 729-point unit pretty-printed is thousands of lines.
        return (json.dumps(result_to_dict(result), separators=(",", ":")) + "\n").encode("utf-8")
    buffer = io.BytesIO()
    meta = json.dumps(result_to_dict(result, arrays=False))
    np.savez_compressed(buffer, meta=np.array(meta), **_npz_arrays(result))
    return buffer.getvalue()


def save_data(result: SamplingResult | RoIResult, path: str | Path) -> Path:
    """Write `result` to `path` (.json or .npz), atomically. Returns the path."""
    path = Path(path)
    payload = encode_data(result, data_format(path))
    with atomic_write(path) as handle:
        handle.write(payload)
    return path
