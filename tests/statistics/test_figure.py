"""The stats figure: exact physical size at column and text width, deterministic bytes, and
no torch needed to draw it."""

from __future__ import annotations

import subprocess
import sys

from deformviz.plotting.output import render_figure
from deformviz.plotting.statistics import plot_statistics


def _document() -> dict:
    def entry(mean, std, units):
        return {"mean": mean, "std": std, "units": units}

    layers = ["res5a", "res5b", "res5c"]
    table = {layer: {"rigid": 2.0, "small": entry(1.5 + i, 0.3, 10), "medium": entry(2.0 + i, 0.4, 20),
                     "large": entry(2.5 + i, 0.5, 30), "background": entry(None, None, 0)}
             for i, layer in enumerate(layers)}
    share = {"points_per_unit": 729, **{name: {"units": 5, "deformed": {"mean": 0.4, "std": 0.1},
                                              "rigid": {"mean": 0.3, "std": None}}
                                       for name in ("small", "medium", "large")}}
    return {"settings": {"layers": layers}, "effective_dilation": table, "in_object_share": share}


def test_sizes_and_determinism():
    for width in (3.25, 6.875):
        figure = plot_statistics(_document(), width)
        assert abs(figure.get_figwidth() - width) < 1e-9
        assert render_figure(figure, "pdf") == render_figure(plot_statistics(_document(), width), "pdf")
    assert render_figure(plot_statistics(_document(), 3.25), "svg") == \
        render_figure(plot_statistics(_document(), 3.25), "svg")


def test_drawing_imports_no_torch():
    code = ("import sys, json; from deformviz.plotting.statistics import plot_statistics; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
