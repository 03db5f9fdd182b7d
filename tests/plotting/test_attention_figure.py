"""The deformable-attention figure on plain data: panels per split, the threshold, the colour
bar (that it imports no torch: test_figure_checks)."""

from __future__ import annotations

import pytest

from tests.plotting.synthetic import attention_result

from deformviz.errors import InputError
from deformviz.plotting import render_figure
from deformviz.plotting.attention import plot_attention


def _image_axes(figure):
    return [a for a in figure.axes if a.images]


@pytest.mark.parametrize("split,panels", [("none", 2), ("head", 16), ("level", 8)])
def test_one_panel_per_query_head_or_level(split, panels):
    figure = plot_attention(attention_result(queries=2), "cvpr-text", split=split)
    assert len(_image_axes(figure)) == panels
    assert abs(figure.get_figwidth() - 6.875) < 1e-6


def test_threshold_hides_light_points_and_weights_set_the_colour_scale():
    result = attention_result()
    weights = result.units[0].weights
    everything = plot_attention(result)
    heavy = plot_attention(result, threshold=float(weights.mean()))

    def drawn(figure):
        return sum(len(c.get_offsets()) for a in _image_axes(figure) for c in a.collections
                   if (c.get_gid() or "").startswith("level"))

    assert drawn(everything) == weights.size
    assert drawn(heavy) == int((weights >= weights.mean()).sum())
    bar = [a for a in everything.axes if not a.images][0]
    assert bar.get_xlim() == pytest.approx((0.0, float(weights.max())))


def test_bad_options_are_one_line_errors():
    with pytest.raises(InputError, match="split"):
        plot_attention(attention_result(), split="query")
    with pytest.raises(InputError, match="threshold"):
        plot_attention(attention_result(), threshold=1.5)


def test_renders_in_every_format():
    figure = plot_attention(attention_result(), "85mm", split="level", threshold=0.05)
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        assert render_figure(figure, fmt, dpi=72).startswith(magic)
