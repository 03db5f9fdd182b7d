"""Sampling locations of chosen units, in original-image pixels (the paper's Fig. 6).

Any network goes the same way: `probe_image` runs it once under the probe;
`deformviz.visualize.tracing.sample_units` traces the units through the chain and maps them
back to the original image. `sample_locations` does both in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

from .probed import probe_image, renamed_argument
from .results import SamplingResult
from .tracing import check_unit_request, layer_info, sample_units, trace_unit  # noqa: F401

__all__ = ["sample_locations", "sample_units", "trace_unit", "layer_info"]


def sample_locations(network: object = None, image: object = None, *,
                     at: Sequence[tuple[float, float]] = (), auto: int | None = None,
                     grid_step: int | None = None, levels: int | None = None,
                     layers: Sequence[str] | None = None, long_side: int | None = None,
                     score_threshold: float = 0.3, model_name: str | None = None,
                     preprocessing: object | None = None, group: int | str = 0,
                     model: object | None = None) -> SamplingResult:
    """Sampling points of activation units of the top deformable layer, over the image.

    Args:
        network: any `deformviz.networks.Network` (`load_network`), the bundled detector or an
            nn.Module with `preprocessing`; on any device.
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
        long_side: networks resized by their longer side (the bundled detector): its pixels
            (multiple of 16; default the network's own, 512).
        score_threshold: bundled detector: detections used by `auto` need this score.
        model_name: recorded in the result (default: the network's source, or "model").
        preprocessing: for a plain nn.Module, how to prepare the image.
        group: the offset group followed in every layer (0..G-1), or "all": one set of
            points per group for every unit.
        model: deprecated (one release): the old name of `network`.
    Returns:
        SamplingResult with every point in original-image pixels, (x, y) index coordinates.

    Example:
        >>> result = sample_locations(network, "samples/chelsea.jpg", auto=3)  # doctest: +SKIP
        >>> [s.points[-1].shape for s in result.samplings]                   # doctest: +SKIP
        [(729, 2), (729, 2), (729, 2)]
    """
    from deformviz.imaging import as_loaded_image

    network = renamed_argument(network, model)

    loaded = as_loaded_image(image)
    check_unit_request(at, auto, grid_step, levels, loaded.size)  # before the network runs
    probed = probe_image(network, loaded, preprocessing=preprocessing, long_side=long_side,
                         score_threshold=score_threshold, model_name=model_name)
    return probed.sample(at=at, auto=auto, grid_step=grid_step, levels=levels, layers=layers,
                         group=group)
