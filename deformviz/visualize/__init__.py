"""The Python API behind the command line: images in, sampling geometry out, in original pixels.

    >>> from deformviz.networks import load_network
    >>> from deformviz.visualize import roi_bins, sample_locations, save_data
    >>> from deformviz.plotting import plot_rois, plot_sampling, save_figure
    >>> network = load_network("lite0-deform-synth")
    >>> result = sample_locations(network, "samples/chelsea.jpg", auto=3, levels=3)
    >>> print(save_figure(plot_sampling(result, width="cvpr-text"), "chelsea.pdf"))
    chelsea.pdf
    >>> print(save_data(result, "chelsea.json"))
    chelsea.json
    >>> bins = roi_bins(network, "samples/coffee.jpg", [[150, 20, 430, 300]])
    >>> print(save_figure(plot_rois(bins, width="85mm", show_regular=True), "coffee.svg"))
    coffee.svg

(`tests/test_docstring_examples.py` runs these lines, with the test model in place of the
bundled one.)

- `probe_image` -> `ProbedImage.sample`: one forward pass of any network
  (`deformviz.networks.load_network`: bundled, an export, a checkpoint, a factory; or your
  module), then the points of any units of it (the notebook path).
- `sample_locations`: 9 / 81 / 729 sampling points of chosen units (paper Fig. 6), in one call.
- `roi_bins`: regular and deformed RoI bins of boxes, with the head's class (paper Fig. 7),
  for any network with an RoI head; `rois_from_pass` on a pass already made.
- `auto_units` (from detections), `headless_units` (without a detection head), `grid_units`,
  `unit_at`: which units to show.
- `save_data`: results as JSON or NPZ.

Names are loaded on first use, so `deformviz.visualize.results` (plain data, used by the
plotting) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use, so `deformviz.visualize.results` (what the plotting reads) and the
# export stay free of torch and the model stack.
_EXPORTS = {
    "check_boxes": "boxes", "clip_boxes": "boxes", "read_boxes_file": "boxes",
    "result_to_dict": "export",
    "save_data": "export", "headless_units": "headless_units",
    "sampling_spread": "headless_units", "ProbedImage": "probed", "probe_image": "probed",
    "BoxBins": "results", "Detection": "results", "LayerInfo": "results",
    "RoIResult": "results", "SamplingResult": "results", "Unit": "results",
    "UnitSampling": "results", "roi_bins": "rois", "rois_from_pass": "rois",
    "sample_locations": "sampling", "sample_units": "tracing", "auto_units": "units",
    "grid_units": "units", "unit_at": "units",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deformviz.visualize' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
