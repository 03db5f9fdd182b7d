"""Figure checks measured from the rendered figure: text that does not collide or leave the
canvas, markers that leave the image under them visible, any number of levels and panels,
modulation shown, and drawn artists that carry exactly the result's data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from deformviz.errors import InputError
from deformviz.plotting import plot_rois, plot_sampling, render_figure
from deformviz.plotting.scale import neighbourhood
from deformviz.plotting.size import MIN_FIGURE_WIDTH, parse_width
from deformviz.plotting.style import level_colors

from .synthetic import photo, roi_result, sampling_result

# Deepest-level markers cover, times their opacity, less than this of the unit's neighbourhood.
COVERAGE_LIMIT = 0.3
DPI = 72  # text boxes and marker extents measured in display pixels at this dpi
WIDTHS = ["cvpr-column", "cvpr-text"]


def _draw(figure):
    figure.set_dpi(DPI)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def _texts(figure):
    texts = [ax.title for ax in figure.axes if ax.title.get_text()]
    texts += [t for ax in figure.axes for t in ax.texts]
    for legend in figure.legends + [ax.get_legend() for ax in figure.axes if ax.get_legend()]:
        texts += legend.get_texts()
    return texts


def _overlap(a, b, tolerance: float = 0.5) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and
            min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)


def assert_text_is_clean(figure) -> None:
    renderer = _draw(figure)
    width, height = figure.bbox.width, figure.bbox.height
    titles = [ax.title.get_window_extent(renderer) for ax in figure.axes if ax.title.get_text()]
    for i, a in enumerate(titles):
        for b in titles[i + 1:]:
            assert not _overlap(a, b), f"titles overlap: {a} {b}"
        for ax in figure.axes:
            assert not _overlap(a, ax.get_window_extent(renderer)), "a title covers a panel"
    for text in _texts(figure):
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, \
            f"{text.get_text()!r} leaves the canvas: {box} in {width}x{height}"
    for legend in figure.legends:
        box = legend.get_window_extent(renderer)
        for ax in figure.axes:
            assert not _overlap(box, ax.get_window_extent(renderer)), "legend covers a panel"


def deepest_coverage(ax, level: int) -> float:
    """Fraction of the neighbourhood (central 90% box of the deepest points, in display
    pixels) that the deepest level's markers cover, rasterised at 1/8 px, times their largest
    opacity."""
    collection = next(c for c in ax.collections if c.get_gid() == f"level{level}")
    sub = 8  # sub-pixels per display pixel
    display = ax.transData.transform(np.asarray(collection.get_offsets())) * sub
    side = (np.sqrt(collection.get_sizes()[0]) + collection.get_linewidths()[0]) * DPI / 72 * sub
    x0, y0, x1, y1 = neighbourhood(display)
    cols, rows = int(np.ceil(x1 - x0)) + 1, int(np.ceil(y1 - y0)) + 1
    covered = np.zeros((rows, cols), dtype=bool)
    for x, y in display:
        c0, c1 = int(round(x - side / 2 - x0)), int(round(x + side / 2 - x0))
        r0, r1 = int(round(y - side / 2 - y0)), int(round(y + side / 2 - y0))
        covered[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = True
    return float(covered.mean()) * float(collection.get_facecolors()[:, 3].max())


# Every style at both widths with 3 and 12 panels; the points style with 1 to 12 panels.
LAYOUTS = ([(style, width, units) for style in ("points", "hull", "density")
            for width in WIDTHS for units in (3, 12)]
           + [("points", width, units) for width in WIDTHS for units in (1, 2, 5, 8)])


@pytest.mark.parametrize("style,width,units", LAYOUTS)
def test_titles_and_labels_stay_apart_and_inside(style: str, width: str, units: int) -> None:
    result = sampling_result(units=units, levels=3)
    figure = plot_sampling(result, width, style=style)
    assert figure.get_figwidth() == pytest.approx(parse_width(width))
    assert len(figure.axes) == units
    assert_text_is_clean(figure)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("units", [1, 3, 12])
def test_deepest_markers_leave_the_neighbourhood_visible(width: str, units: int) -> None:
    result = sampling_result(units=units, levels=3)
    figure = plot_sampling(result, width)
    _draw(figure)
    for ax in figure.axes:
        assert deepest_coverage(ax, 3) < COVERAGE_LIMIT


def test_marker_size_follows_the_panel() -> None:
    result = sampling_result(units=1, levels=3)
    small = plot_sampling(result, "cvpr-column").axes[0]
    large = plot_sampling(result, 12.0).axes[0]

    def side(ax):
        return np.sqrt(next(c for c in ax.collections if c.get_gid() == "level3").get_sizes()[0])

    assert side(large) > side(small) * 1.5


def test_panels_wrap_into_rows() -> None:
    figure = plot_sampling(sampling_result(units=12), "cvpr-text")
    rows = {round(ax.get_position().y0, 6) for ax in figure.axes}
    columns = {round(ax.get_position().x0, 6) for ax in figure.axes}
    assert len(rows) == 2 and len(columns) == 6
    assert all(ax.get_position().width * figure.get_figwidth() >= 1.0 - 1e-9
               for ax in figure.axes)


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 5, 6])
def test_any_number_of_levels(levels: int) -> None:
    result = sampling_result(units=2 if levels < 5 else 1, levels=levels)  # 9**6 = 531441
    figure = plot_sampling(result, "cvpr-column")
    ax = figure.axes[0]
    drawn = {c.get_gid(): c for c in ax.collections}
    for level in range(1, levels + 1):
        sampling = result.samplings[0]
        expected = sampling.points[level - 1][sampling.active[level - 1]]
        np.testing.assert_array_equal(drawn[f"level{level}"].get_offsets(), expected)
    colours = {tuple(drawn[f"level{level}"].get_facecolors()[0][:3]) for level in
               range(1, levels + 1)}
    assert len(colours) == levels
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels[0] == "unit" and len(labels) == levels + 1
    assert labels[-1].endswith(f"({9 ** levels} points)")
    assert_text_is_clean(figure)


def test_modulation_shown_as_opacity_only_when_modulated() -> None:
    modulated = sampling_result(units=1, levels=2, modulated=True)
    figure = plot_sampling(modulated, "cvpr-column")
    deepest = next(c for c in figure.axes[0].collections if c.get_gid() == "level2")
    alphas = deepest.get_facecolors()[:, 3]
    sampling = modulated.samplings[0]
    weights = sampling.weights[1][sampling.active[1]]
    assert np.ptp(alphas) > 0.3
    assert np.corrcoef(alphas, weights)[0, 1] > 0.99  # more weight, more opaque
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert any("modulation" in label for label in labels)

    plain = plot_sampling(sampling_result(units=1, levels=2), "cvpr-column")
    deepest = next(c for c in plain.axes[0].collections if c.get_gid() == "level2")
    assert np.all(deepest.get_facecolors()[:, 3] == 1.0)
    assert not any("modulation" in t.get_text() for t in plain.legends[0].get_texts())


def test_points_have_a_contrasting_edge() -> None:
    figure = plot_sampling(sampling_result(units=1, levels=3), "cvpr-text")
    edged = set()
    for collection in figure.axes[0].collections:
        if collection.get_linewidths()[0] > 0:
            face = collection.get_facecolors()[0][:3]
            edge = collection.get_edgecolors()[0][:3]
            assert abs(face.mean() - edge.mean()) > 0.3
            edged.add(collection.get_gid())
    assert {"unit", "level1", "level2"} <= edged


def test_too_narrow_width_is_one_line_with_the_smallest_width() -> None:
    with pytest.raises(InputError, match=f"smallest usable width is {MIN_FIGURE_WIDTH:.2f}in"):
        plot_sampling(sampling_result(units=3), 0.5)
    with pytest.raises(InputError, match="smallest usable width"):
        parse_width("0.5in")
    figure = plot_sampling(sampling_result(units=3), MIN_FIGURE_WIDTH)
    assert len(figure.axes) == 3  # one panel per row
    assert_text_is_clean(figure)


def test_library_errors_speak_of_arguments() -> None:
    result = sampling_result(units=2)
    with pytest.raises(InputError, match="style='rings'") as error:
        plot_sampling(result, 3.25, style="rings")
    assert "--" not in str(error.value)
    with pytest.raises(InputError, match="panel_titles"):
        plot_sampling(result, 3.25, panel_titles=["one"])
    with pytest.raises(InputError, match="width="):
        plot_sampling(result, [3])


def test_panel_titles_and_default_titles_in_words() -> None:
    result = sampling_result(units=3)
    figure = plot_sampling(result, "cvpr-text", panel_titles=["cat", "sofa", "wall"])
    assert [ax.get_title() for ax in figure.axes] == ["cat", "sofa", "wall"]
    titles = " ".join(ax.get_title().replace("\n", " ")
                      for ax in plot_sampling(result, "cvpr-text").axes)
    assert "peak" not in titles and "background," in titles


def test_draws_into_a_users_axes_and_figure() -> None:
    from matplotlib.figure import Figure

    result = sampling_result(units=2)
    user = Figure(figsize=(6, 3))
    axes = user.subplots(1, 3)
    returned = plot_sampling(result, 3.25, ax=axes[:2])
    assert returned is user and axes[0].collections and axes[1].collections
    assert not axes[2].collections
    single = plot_rois(roi_result([(50, 50, 200, 200)]), ax=axes[2])
    assert single is user and axes[2].collections
    empty = Figure()
    assert plot_sampling(result, "85mm", fig=empty) is empty
    assert empty.get_figwidth() == pytest.approx(85 / 25.4)


def test_grid_overview_scales_its_markers() -> None:
    result = sampling_result(units=40, levels=1, mode="grid")
    column = plot_sampling(result, "cvpr-column")
    text = plot_sampling(result, "cvpr-text")

    def side(figure):
        return np.sqrt(next(c for c in figure.axes[0].collections
                            if c.get_gid() == "level1").get_sizes()[0])

    assert side(text) > side(column)
    assert_text_is_clean(column)


def test_roi_labels_stay_inside_for_boxes_at_the_edges() -> None:
    image = photo()
    height, width = image.size
    boxes = [(0, 0, 120, 80), (width - 60, 2, width, 90), (width - 40, height - 30, width, height)]
    for size in WIDTHS:
        figure = plot_rois(roi_result(boxes, image), size, show_regular=True)
        assert len(figure.axes[0].texts) == 3
        assert_text_is_clean(figure)
        renderer = _draw(figure)
        panel = figure.axes[0].get_window_extent(renderer)
        for text in figure.axes[0].texts:
            box = text.get_bbox_patch().get_window_extent(renderer)
            assert box.x0 >= panel.x0 - 1 and box.x1 <= panel.x1 + 1
            assert box.y0 >= panel.y0 - 1 and box.y1 <= panel.y1 + 1


def test_roi_legend_explains_bins_and_labels_can_be_hidden() -> None:
    result = roi_result([(40, 40, 200, 200)])
    figure = plot_rois(result, show_regular=True, labels=False)
    assert not figure.axes[0].texts
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["box", "deformed bins (learned offsets)", "regular bins (no offsets)"]
    drawn = {c.get_gid(): c for c in figure.axes[0].collections}
    assert drawn["regular0"].get_linestyle()[0][1] is not None  # dashed
    assert drawn["deformed0"].get_linestyle()[0][1] is None  # solid


def test_svg_keeps_text_editable_by_default() -> None:
    figure = plot_sampling(sampling_result(units=2), "cvpr-text")
    editable = render_figure(figure, "svg", dpi=72)
    assert b"<text" in editable and b"background," in editable
    outlines = render_figure(figure, "svg", dpi=72, svg_text=False)
    assert b"<text" not in outlines
    assert render_figure(figure, "svg", dpi=72) == editable  # still byte-identical


def test_plotting_imports_neither_torch_nor_the_model() -> None:
    code = ("import sys\n"
            "from tests.plotting.synthetic import sampling_result, roi_result\n"
            "from deformviz.plotting import plot_sampling, plot_rois, render_figure\n"
            "render_figure(plot_sampling(sampling_result(), 3.25), 'png', 50)\n"
            "render_figure(plot_rois(roi_result([(10, 10, 90, 90)])), 'png', 50)\n"
            "from tests.plotting.synthetic import attention_result\n"
            "from deformviz.plotting.attention import plot_attention\n"
            "from deformviz.visualize.attention_export import attention_to_dict\n"
            "render_figure(plot_attention(attention_result(), 3.25), 'png', 50)\n"
            "attention_to_dict(attention_result())\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'"
            " or m.startswith(('deformviz.models', 'deformviz.capture')))[:5])\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "[]"


def test_level_colours_end_in_vermillion_and_stay_distinct() -> None:
    for levels in range(1, 7):
        colours = level_colors(levels)
        assert len(set(colours)) == levels and colours[-1] == "#D55E00"
