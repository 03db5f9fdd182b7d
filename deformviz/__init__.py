"""deformviz: see what a deformable convolutional network learned.

The common entry points, importable from here (loaded on first use, so `import deformviz`
imports neither torch nor matplotlib):

    >>> import deformviz
    >>> network = deformviz.load_network("lite0-deform-synth")
    >>> result = deformviz.sample_locations(network, "samples/chelsea.jpg", auto=2)
    >>> figure = deformviz.plot_sampling(result, "cvpr-column")
    >>> print(deformviz.save_figure(figure, "chelsea.pdf"))
    chelsea.pdf

Any network is loaded the same way: `deformviz.load_network(name_or_file_or_factory)` (the
bundled detector by name, an export, mmdetection, detectron2, a factory), then
`deformviz.probe_image(network, image).sample(...)`; the probe itself is
`deformviz.probe.probe(module, tensor)`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "deformviz.models.registry", "load_export": "deformviz.models.registry",
    "load_checkpoint": "deformviz.models.registry",  # deprecated: load_export
    "load_image": "deformviz.imaging", "load_network": "deformviz.networks.loading",
    "probe_image": "deformviz.visualize.probed",
    "sample_locations": "deformviz.visualize.sampling", "roi_bins": "deformviz.visualize.rois",
    "save_data": "deformviz.visualize.export",
    "plot_sampling": "deformviz.plotting.sampling", "plot_rois": "deformviz.plotting.rois",
    "save_figure": "deformviz.plotting.output", "parse_width": "deformviz.plotting.size",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deformviz' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
