"""Sampling locations of chosen units, in original-image pixels (the paper's Fig. 6).

Any network goes the same way: `probe_image` runs it once under the probe; `sample_units`
traces each unit of the chain's top layer through the chain (`deformviz.geometry.trace_chain`,
with the offsets the forward pass actually used and the rigid steps between layers), then
maps every level back to the original image with its own layer's input grid and the resize.
`sample_locations` does both in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

from deformviz.errors import InputError
from deformviz.geometry import (ChainLayer, FeatureToImage, filter_effective_dilation,
                                grid_mapping, trace_chain)
from deformviz.probe import DeformLayerRecord

from .headless_units import headless_units, sampling_spread
from .probed import ProbedImage, probe_image
from .results import LayerInfo, SamplingResult, Unit, UnitSampling
from .units import auto_units, check_image_size, check_unit_pixels, grid_units, unit_at

__all__ = ["sample_locations", "sample_units", "trace_unit", "layer_info"]

DEFAULT_AUTO_UNITS = 3


def layer_info(record: DeformLayerRecord, label: str) -> LayerInfo:
    """A probe record's geometry as plain data."""
    g = record.geometry
    return LayerInfo(record.name, label, record.kind, g.kernel_size, g.stride, g.padding,
                     g.dilation, g.offset_groups, record.weight_groups, record.modulated,
                     record.input_size, record.output_size, record.input_grid.stride,
                     record.input_grid.origin, record.output_grid.stride,
                     record.output_grid.origin)


def trace_unit(chain: Sequence[ChainLayer], unit: Unit, levels: int,
               mappings: Sequence[FeatureToImage], offset_group: int = 0) -> UnitSampling:
    """One unit's points through the top `levels` layers of `chain`, in original pixels.

    Args:
        chain: bottom to top, offsets in float64 (tracing adds no rounding of its own).
        unit: a cell of the top layer's output map.
        levels: 1..len(chain).
        mappings: per level (level 1 first), its layer's input cells -> original pixels.
        offset_group: the group followed in every layer.
    """
    traced = trace_chain(chain, unit.cell, levels, offset_group)
    pixels = traced.to_image(list(mappings[:levels]))  # per level [P, 2] (y, x)
    dilation = filter_effective_dilation(traced.points[0], chain[-1].geometry.kernel_size)
    return UnitSampling(
        unit=unit,
        points=tuple(p.flip(-1).numpy() for p in pixels),
        parents=tuple(p.numpy() for p in traced.parents),
        active=tuple(a.numpy() for a in traced.active),
        weights=tuple(w.numpy() for w in traced.weights),
        effective_dilation=float(dilation),
        offset_group=offset_group,
    )


def offset_groups_to_draw(records: Sequence[DeformLayerRecord], group: int | str) -> tuple[int, ...]:
    """The groups `group` names (an index or "all") for a chain, checked against every layer."""
    counts = sorted({r.geometry.offset_groups for r in records})
    if group == "all":
        if len(counts) > 1:
            raise InputError(f"--group all: the chain's layers have different offset groups "
                             f"({', '.join(map(str, counts))}); choose one group with --group G")
        return tuple(range(counts[0]))
    if not isinstance(group, int) or not 0 <= group < counts[0]:
        raise InputError(f"--group {group}: the chain's layers have {counts[0]} offset "
                         f"group{'s' if counts[0] > 1 else ''} (0..{counts[0] - 1}) ")
    return (group,)


def sample_units(probed: ProbedImage, *, at: Sequence[tuple[float, float]] = (),
                 auto: int | None = None, grid_step: int | None = None,
                 levels: int | None = None, layers: Sequence[str] | None = None,
                 group: int | str = 0) -> SamplingResult:
    """`ProbedImage.sample`: units of one probed forward pass, traced and mapped (no model
    run). See `sample_locations` for the arguments."""
    records = probed.chain(layers)
    groups = offset_groups_to_draw(records, group)
    levels = len(records) if levels is None else levels
    if not 1 <= levels <= len(records):
        raise InputError(f"levels must be in 1..{len(records)} (the chain's layers), got {levels}")
    if auto is not None and auto < 1:
        raise InputError(f"--auto needs at least 1 unit, got {auto}")
    if grid_step is not None and (at or auto):
        raise InputError("the grid overview (--grid) cannot be combined with --at or --auto")
    image = probed.image
    at = [(float(x), float(y)) for x, y in at]
    check_unit_pixels(at, image.size)
    if not at and not auto and grid_step is None:
        auto = DEFAULT_AUTO_UNITS

    chain = []
    for record in records:
        layer = record.chain_layer(0)
        mask = None if layer.mask is None else layer.mask.double()
        chain.append(ChainLayer(layer.geometry, layer.offset.double(), mask, layer.input_size,
                                layer.input_grid, layer.output_grid))
    sizes = (probed.resized_size, image.size)
    check_image_size(image.size, tuple(chain[-1].output_grid.stride),
                     probed.probe.label(records[-1].name))
    top = grid_mapping(chain[-1].output_grid, *sizes)
    # Level l samples the input map of layer [-l]; each level keeps its own layer's grid.
    mappings = [grid_mapping(layer.input_grid, *sizes) for layer in reversed(chain)]
    top_size = chain[-1].output_size
    units: list[Unit] = [unit_at(x, y, top, top_size, image.size) for x, y in at]
    if auto:
        taken = {u.cell for u in units}
        spread = sampling_spread(chain[-1].offset, chain[-1].geometry,
                                 chain[-1].input_grid.stride)
        if probed.heatmap is not None and top_size == tuple(probed.heatmap.shape[-2:]):
            picked = auto_units(auto + len(taken), probed.detections, probed.heatmap, top,
                                spread)
        else:
            picked = headless_units(auto + len(taken), spread, top)
        units += [u for u in picked if u.cell not in taken][:auto]
    if grid_step is not None:
        units += grid_units(top_size, top, grid_step)
    labels = tuple(probed.probe.label(r.name) for r in records)
    return SamplingResult(
        image=image, model_name=probed.model_name, layer_names=labels, levels=levels,
        samplings=tuple(trace_unit(chain, u, levels, mappings, g) for u in units for g in groups),
        detections=probed.detections, mode="grid" if grid_step is not None else "units",
        input_size=probed.resized_size,
        layers=tuple(layer_info(r, label) for r, label in zip(records, labels)),
        preprocessing=probed.preprocessing, offset_groups=groups, network=probed.network)


def sample_locations(model: object, image: object, *,
                     at: Sequence[tuple[float, float]] = (), auto: int | None = None,
                     grid_step: int | None = None, levels: int | None = None,
                     layers: Sequence[str] | None = None, long_side: int = 512,
                     score_threshold: float = 0.3, model_name: str | None = None,
                     preprocessing: object | None = None, group: int | str = 0
                     ) -> SamplingResult:
    """Sampling points of activation units of the top deformable layer, over the image.

    Args:
        model: the bundled detector, a loaded network (`deformviz.networks.load_network`) or
            an nn.Module with `preprocessing`; on any device.
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        at: units as (x, y) original pixels; each picks the nearest top-layer cell.
        auto: pick this many telling units: from the detector's detections (background,
            small object, large object, ...) for the bundled network, else the widest-,
            tightest- and typically-sampling units (`deformviz.visualize.headless_units`).
            With no `at`, `auto` and `grid_step`, 3 auto units are picked.
        grid_step: instead of `at` / `auto`, a regular grid of units every `grid_step` cells
            (the overview; drawn with each unit's top-level points).
        levels: layers to descend, 1..len(chain): K, K^2, ... points (9, 81, 729 for 3x3);
            default the whole chain.
        layers: the chain, any names `ProbeResult.find` takes; default the network's own
            (the last three deformable layers: res5a/b/c).
        long_side: bundled detector: model-input pixels of the longer side (multiple of 16).
        score_threshold: bundled detector: detections used by `auto` need this score.
        model_name: recorded in the result (default: the network's source, or "model").
        preprocessing: for a plain nn.Module, how to prepare the image.
        group: the offset group followed in every layer (0..G-1), or "all": one set of
            points per group for every unit.
    Returns:
        SamplingResult with every point in original-image pixels, (x, y) index coordinates.

    Example:
        >>> result = sample_locations(model, "samples/chelsea.jpg", auto=3)  # doctest: +SKIP
        >>> [s.points[-1].shape for s in result.samplings]                   # doctest: +SKIP
        [(729, 2), (729, 2), (729, 2)]
    """
    if levels is not None and levels < 1:
        raise InputError(f"levels must be at least 1, got {levels}")
    if auto is not None and auto < 1:
        raise InputError(f"auto={auto}: needs at least 1 unit")
    if grid_step is not None and (at or auto):
        raise InputError("grid_step (the grid overview) cannot be combined with at or auto")
    from deformviz.imaging import as_loaded_image

    loaded = as_loaded_image(image)
    check_unit_pixels([(float(x), float(y)) for x, y in at], loaded.size)  # fail fast
    probed = probe_image(model, loaded, preprocessing=preprocessing, long_side=long_side,
                         score_threshold=score_threshold, model_name=model_name)
    return probed.sample(at=at, auto=auto, grid_step=grid_step, levels=levels, layers=layers,
                         group=group)
