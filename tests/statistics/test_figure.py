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


def test_layers_take_their_chain_colour_and_the_legend_covers_no_data():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex

    from deformviz.plotting.style import LAYER_COLORS

    document = _document()
    for row in document["effective_dilation"].values():  # whiskers up where a legend would go
        row["small"]["mean"] += 3
    for width in (3.25, 6.875):
        figure = plot_statistics(document, width)
        axes = figure.axes[0]
        legend = axes.get_legend()
        labels = [t.get_text() for t in legend.get_texts()]
        colours = [to_hex(h[0].get_color() if isinstance(h, tuple) else h.get_color()).upper()
                   for h in legend.legend_handles]
        assert labels == ["res5c", "res5b", "res5a"]  # top first
        assert colours == list(LAYER_COLORS[:3])
        renderer = FigureCanvasAgg(figure).get_renderer()
        box = legend.get_window_extent(renderer)
        for collection in axes.lines + list(axes.collections):
            for extent in _artist_boxes(collection, renderer):
                assert not box.overlaps(extent), f"legend covers data at width {width}"


def _artist_boxes(artist, renderer):
    """Display-space boxes of the data an artist draws (markers and error-bar segments)."""
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.transforms import Bbox

    if isinstance(artist, LineCollection):
        for segment in artist.get_segments():
            if len(segment):
                points = artist.get_transform().transform(np.asarray(segment))
                yield Bbox([points.min(axis=0), points.max(axis=0)])
        return
    data = np.column_stack(artist.get_data()) if hasattr(artist, "get_data") else None
    if data is not None and len(data) and artist.get_marker() not in (None, "None", ""):
        for point in artist.get_transform().transform(data.astype(float)):
            yield Bbox([point - 2, point + 2])
