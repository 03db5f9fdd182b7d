"""Tracing the units of one probed forward pass through its chain, in original-image pixels.

`sample_units` (what `ProbedImage.sample` runs) takes each unit of the chain's top layer
through the chain (`deformviz.geometry.trace_chain`, with the offsets the forward pass actually
used and the rigid steps between layers), then maps every level back to the original image with
its own layer's input grid and the resize. No network runs here.
"""

from __future__ import annotations

from collections.abc import Sequence

from deformviz.errors import InputError
from deformviz.imaging import ImageResize
from deformviz.geometry import ChainLayer, FeatureToImage, filter_effective_dilation, trace_chain
from deformviz.probe import DeformLayerRecord

from .headless_units import headless_units, sampling_spread
from .results import LayerInfo, SamplingResult, Unit, UnitSampling
from .units import auto_units, check_image_size, check_unit_pixels, grid_units, unit_at

__all__ = ["sample_units", "trace_unit", "layer_info", "check_unit_request", "DEFAULT_AUTO_UNITS",
           "offset_groups_to_draw"]

DEFAULT_AUTO_UNITS = 3


def layer_info(record: DeformLayerRecord, label: str) -> LayerInfo:
    """A probe record's geometry as plain data (`LayerInfo.from_record`)."""
    return LayerInfo.from_record(record, label)


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
            raise InputError(f"all offset groups: the chain's layers have different numbers of "
                             f"offset groups ({', '.join(map(str, counts))}); choose one group")
        return tuple(range(counts[0]))
    if not isinstance(group, int) or not 0 <= group < counts[0]:
        raise InputError(f"offset group {group}: the chain's layers have {counts[0]} offset "
                         f"group{'s' if counts[0] > 1 else ''} (0..{counts[0] - 1})")
    return (group,)


def check_unit_request(at: Sequence[tuple[float, float]], auto: int | None,
                       grid_step: int | None, levels: int | None,
                       image_size: tuple[int, int]) -> list[tuple[float, float]]:
    """The one check of which units to trace (before any network runs, where it can be).

    Returns:
        `at` as (x, y) floats.
    Raises:
        InputError / UnitError: levels below 1, auto below 1, grid_step with at or auto, a unit
            outside the image.
    """
    if levels is not None and levels < 1:
        raise InputError(f"levels must be at least 1, got {levels}")
    if auto is not None and auto < 1:
        raise InputError(f"auto={auto}: needs at least 1 unit")
    if grid_step is not None and (at or auto):
        raise InputError("grid_step (the grid overview) cannot be combined with at or auto")
    points = [(float(x), float(y)) for x, y in at]
    check_unit_pixels(points, image_size)
    return points


def sample_units(probed: "ProbedImage", *,  # noqa: F821 - not imported: no import cycle
                 at: Sequence[tuple[float, float]] = (), auto: int | None = None, grid_step: int | None = None,
                 levels: int | None = None, layers: Sequence[str] | None = None,
                 group: int | str = 0) -> SamplingResult:
    """`ProbedImage.sample`: units of one probed forward pass, traced and mapped (no model
    run). See `deformviz.visualize.sample_locations` for the arguments."""
    image = probed.image
    at = check_unit_request(at, auto, grid_step, levels, image.size)
    records = probed.chain(layers)
    groups = offset_groups_to_draw(records, group)
    levels = len(records) if levels is None else levels
    if levels > len(records):
        raise InputError(f"levels must be in 1..{len(records)} (the chain's layers), got {levels}")
    if not at and not auto and grid_step is None:
        auto = DEFAULT_AUTO_UNITS

    chain = []
    for record in records:
        layer = record.chain_layer(0)
        mask = None if layer.mask is None else layer.mask.double()
        chain.append(ChainLayer(layer.geometry, layer.offset.double(), mask, layer.input_size,
                                layer.input_grid, layer.output_grid))
    resize = ImageResize.between(image.size, probed.resized_size)  # what preparing did
    check_image_size(image.size, tuple(chain[-1].output_grid.stride),
                     probed.probe.label(records[-1].name))
    top = FeatureToImage.from_grid(chain[-1].output_grid, resize=resize)
    # Level l samples the input map of layer [-l]; each level keeps its own layer's grid.
    mappings = [FeatureToImage.from_grid(layer.input_grid, resize=resize) for layer in reversed(chain)]
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
        preprocessing=probed.preprocessing, offset_groups=groups,
        network=probed.network_facts)
