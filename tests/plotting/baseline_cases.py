"""The figures kept as PNG baselines, built from the deterministic test model.

Shared by tests/plotting/test_figures.py and tools/regenerate_figure_baselines.py, so the
test and the baselines can never drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from deformviz.models.detector import DeformableDetector

BASELINES = Path(__file__).resolve().parent / "baselines"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DPI = 100  # small files; enough to see every marker


def _sample(model: DeformableDetector):
    from deformviz.plotting import plot_sampling
    from deformviz.visualize import sample_locations

    result = sample_locations(model, SAMPLES / "chelsea.jpg", auto=3, levels=3, long_side=256)
    return plot_sampling(result, width=6.875)


def _roi(model: DeformableDetector):
    from deformviz.plotting import plot_rois
    from deformviz.visualize import roi_bins

    result = roi_bins(model, SAMPLES / "coffee.jpg", [[150, 40, 430, 300], [40, 200, 180, 330]],
                      long_side=256)
    return plot_rois(result, width=3.28125, show_regular=True)


def _grid(model: DeformableDetector):
    from deformviz.plotting import plot_sampling
    from deformviz.visualize import sample_locations

    result = sample_locations(model, SAMPLES / "astronaut.jpg", grid_step=3, levels=1,
                              long_side=256)
    return plot_sampling(result, width=3.28125)


CASES: dict[str, Callable[[DeformableDetector], object]] = {
    "sample_chelsea": _sample, "roi_coffee": _roi, "grid_astronaut": _grid,
}
