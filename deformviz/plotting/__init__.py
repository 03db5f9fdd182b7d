"""Figures from results (never from the model): sampling locations and deformed RoI bins.

- `plot_sampling(result, width, style=...)`: the paper's Fig. 6; one panel per unit, or an
  overview. `width` is inches or a string ("3.25in", "85mm", "cvpr-text"); `fig=` / `ax=`
  draw into your own figure or subplot.
- `plot_rois(result, width, show_regular)`: the paper's Fig. 7 style.
- `save_figure(figure, path, dpi)`: PNG, PDF or SVG by extension, deterministic and atomic.
- `parse_width("3.25in" | "85mm" | "cvpr-text" ...)`: widths in inches.

Plotting takes plain results and imports neither torch nor the model.

Names are loaded on first use, so `deformviz.plotting.size` (used to check options) does not
import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FIGURE_FORMATS": "output", "figure_format": "output", "render_figure": "output",
    "save_figure": "output", "is_deformviz_figure": "output", "FIGURE_MARKER": "output",
    "plot_rois": "rois", "plot_sampling": "sampling", "STYLES": "sampling",
    "VENUE_WIDTHS": "size", "parse_width": "size", "as_width": "size",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deformviz.plotting' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
