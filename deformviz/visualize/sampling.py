"""Sampling locations of chosen units, in original-image pixels (the paper's Fig. 6).

`sample_locations` runs the network once on an image and traces, for each unit, its 9 / 81 /
729 sampling points through the three deformable layers with the offsets the forward pass
actually used (`deformviz.geometry.trace_sampling_locations`), then maps them back through the
network's grid and the resize to the original image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deformviz.capture import DenseCapture, capture_dense
from deformviz.errors import InputError
from deformviz.geometry import (FeatureToImage, filter_effective_dilation,
                                trace_sampling_locations)
from deformviz.imaging import LoadedImage, ModelInput, as_loaded_image, prepare_for_model
from deformviz.models.detector import DeformableDetector

from .mapping import detections_in_image, image_mapping
from .results import SamplingResult, Unit, UnitSampling
from .units import auto_units, check_unit_pixels, grid_units, unit_at

__all__ = ["sample_locations", "sampling_from_capture", "trace_unit"]

DEFAULT_AUTO_UNITS = 3
DEFAULT_GRID_STEP = 6


def _model_device(model: DeformableDetector) -> torch.device:
    return next(model.parameters()).device


def trace_unit(capture: DenseCapture, unit: Unit, mapping: FeatureToImage,
               levels: int) -> UnitSampling:
    """One unit's points through `levels` layers, mapped to original pixels.

    Tracing is done in float64 so the mapping back adds no rounding of its own.
    """
    offsets = [o.double() for o in capture.offsets]
    masks = None
    if any(m is not None for m in capture.masks):
        masks = [None if m is None else m.double() for m in capture.masks]
    traced = trace_sampling_locations(capture.layers, offsets, unit.cell, levels, masks)
    pixels = traced.to_image(mapping)  # per level [P, 2] (y, x)
    dilation = filter_effective_dilation(traced.points[0], capture.layers[-1].kernel_size)
    return UnitSampling(
        unit=unit,
        points=tuple(p.flip(-1).numpy() for p in pixels),
        parents=tuple(p.numpy() for p in traced.parents),
        active=tuple(a.numpy() for a in traced.active),
        weights=tuple(w.numpy() for w in traced.weights),
        effective_dilation=float(dilation),
    )


def sampling_from_capture(capture: DenseCapture, image: LoadedImage, model_input: ModelInput,
                          class_names: tuple[str, ...], *,
                          at: Sequence[tuple[float, float]] = (), auto: int | None = None,
                          grid_step: int | None = None, levels: int = 3,
                          model_name: str = "model") -> SamplingResult:
    """The geometry half of `sample_locations`, on an existing capture (no model run)."""
    mapping = image_mapping(capture, model_input)
    detections = detections_in_image(capture, model_input, class_names)
    feature_size = capture.feature_size
    units: list[Unit] = [unit_at(x, y, mapping, feature_size, image.size) for x, y in at]
    if auto:
        taken = {u.cell for u in units}
        units += [u for u in auto_units(auto + len(taken), detections, capture.heatmap, mapping)
                  if u.cell not in taken][:auto]
    if grid_step is not None:
        units += grid_units(feature_size, mapping, grid_step)
    mode = "grid" if grid_step is not None else "units"
    return SamplingResult(
        image=image, model_name=model_name, layer_names=capture.layer_names, levels=levels,
        samplings=tuple(trace_unit(capture, u, mapping, levels) for u in units),
        detections=detections, mode=mode, input_size=model_input.resized_size)


def sample_locations(model: DeformableDetector, image: object, *,
                     at: Sequence[tuple[float, float]] = (), auto: int | None = None,
                     grid_step: int | None = None, levels: int = 3, long_side: int = 512,
                     score_threshold: float = 0.3, model_name: str = "model") -> SamplingResult:
    """Sampling points of activation units of the top deformable layer, over the image.

    Args:
        model: the detector (eval mode), on any device.
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        at: units as (x, y) original pixels; each picks the nearest top-layer cell.
        auto: pick this many telling units (background, small object, large object, ...).
            With no `at`, `auto` and `grid_step`, 3 auto units are picked.
        grid_step: instead of `at` / `auto`, a regular grid of units every `grid_step` cells
            (the overview; drawn with each unit's 9 top-level points).
        levels: 1..3 layers to descend: 9, 81 or 729 points per unit.
        long_side: model-input pixels of the longer image side (multiple of 16).
        score_threshold: detections used by `auto` need at least this heat-map score.
        model_name: recorded in the result.
    Returns:
        SamplingResult with every point in original-image pixels, (x, y) index coordinates.

    Example:
        >>> result = sample_locations(model, "samples/chelsea.jpg", auto=3)  # doctest: +SKIP
        >>> [s.points[-1].shape for s in result.samplings]                   # doctest: +SKIP
        [(729, 2), (729, 2), (729, 2)]
    """
    if not 1 <= levels <= len(model.stage.layers):
        raise InputError(f"levels must be in 1..{len(model.stage.layers)}, got {levels}")
    if auto is not None and auto < 1:
        raise InputError(f"auto={auto}: needs at least 1 unit")
    if grid_step is not None and (at or auto):
        raise InputError("grid_step (the grid overview) cannot be combined with at or auto")
    loaded = as_loaded_image(image)
    at = [(float(x), float(y)) for x, y in at]
    check_unit_pixels(at, loaded.size)  # before running the network: fail fast
    if not at and not auto and grid_step is None:
        auto = DEFAULT_AUTO_UNITS
    model_input = prepare_for_model(loaded, long_side)
    capture = capture_dense(model, model_input.tensor.to(_model_device(model)), score_threshold)
    return sampling_from_capture(capture, loaded, model_input, model.class_names, at=at,
                                 auto=auto, grid_step=grid_step, levels=levels,
                                 model_name=model_name)
