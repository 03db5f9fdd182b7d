"""Figure checks measured from the rendered figure: text that does not collide or leave the
canvas, markers that leave the image under them visible, any number of levels and panels,
modulation shown, and drawn artists that carry exactly the result's data."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from deformviz.errors import InputError
from deformviz.plotting import plot_rois, plot_sampling, render_figure
from deformviz.plotting.scale import neighbourhood
from deformviz.plotting.size import MIN_FIGURE_WIDTH, parse_width
from deformviz.plotting.style import (BIN_COLOR, BOX_COLOR, LAYER_COLORS, MAX_LEVELS,
                                      REGULAR_BIN_COLOR, UNIT_COLOR, level_colors)

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


def test_a_layer_keeps_its_colour_at_every_number_of_levels() -> None:
    for levels in range(1, MAX_LEVELS + 1):
        colours = level_colors(levels)
        assert colours == LAYER_COLORS[:levels] and len(set(colours)) == levels
    assert level_colors(3) == ("#0072B2", "#56B4E9", "#D55E00")  # the paper's 3-level look


# Machado, Oliveira & Fernandes (2009), full severity, on linear RGB.
_CVD = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(color: str, vision: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a "#RRGGBB" colour as seen with `vision` (a linear-RGB matrix)."""
    srgb = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    seen = np.clip(vision @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ seen / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_every_role_has_its_own_colour_apart_for_colour_blind_readers() -> None:
    roles = {"unit": UNIT_COLOR, "box": BOX_COLOR, "bins": BIN_COLOR,
             "regular bins": REGULAR_BIN_COLOR,
             **{f"layer {i + 1}": c for i, c in enumerate(LAYER_COLORS)}}
    assert len(set(roles.values())) == len(roles)  # boxes and bins: no layer's colour
    for vision, matrix in _CVD.items():
        for (a, first), (b, second) in itertools.combinations(roles.items(), 2):
            distance = np.linalg.norm(_lab(first, matrix) - _lab(second, matrix))
            assert distance >= 15, f"{vision}: {a} and {b} only {distance:.1f} apart"


def test_sample_figures_colour_each_layer_by_its_place_in_the_chain() -> None:
    from matplotlib.colors import to_hex

    for levels in (1, 2, 3):
        figure = plot_sampling(sampling_result(units=1, levels=levels), 3.25)
        drawn = {c.get_gid(): to_hex(c.get_facecolors()[0], keep_alpha=False).upper()
                 for c in figure.axes[0].collections if c.get_gid()}
        for level in range(1, levels + 1):
            assert drawn[f"level{level}"] == LAYER_COLORS[level - 1], (levels, level)
        legend = [to_hex(h.get_color()).upper() for h in figure.legends[0].legend_handles[1:]]
        assert legend == list(LAYER_COLORS[:levels])


def _text_outside_canvas(figure) -> list[str]:
    """Every drawn text (titles, legend entries) that leaves the figure's canvas, rendered."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    width, height = figure.canvas.get_width_height()
    outside = []
    texts = [t for legend in figure.legends for t in legend.get_texts()]
    texts += [ax.title for ax in figure.axes] + list(figure.texts)
    for text in texts:
        if not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            outside.append(text.get_text())
    return outside


@pytest.mark.parametrize("size, columns", [((7, 2), 3), ((3.3, 1.5), 3), ((3.3, 3.0), 1)])
def test_into_the_users_subplots_no_text_leaves_the_canvas(size, columns) -> None:
    import matplotlib.pyplot as plt

    result = sampling_result(units=columns)
    figure, axes = plt.subplots(1, columns, figsize=size)  # README's example is the first
    try:
        plot_sampling(result, ax=axes)
        assert len(figure.legends) == 1
        assert _text_outside_canvas(figure) == []
    finally:
        plt.close(figure)


def test_into_axes_too_small_for_legend_or_titles_is_a_clear_value_error() -> None:
    from matplotlib.figure import Figure

    result = sampling_result(units=2)
    tight = Figure(figsize=(3.3, 1.2))
    axes = tight.subplots(1, 2, gridspec_kw={"bottom": 0.0, "top": 0.8})
    with pytest.raises(ValueError, match="below them for the legend"):
        plot_sampling(result, ax=axes)
    tight = Figure(figsize=(3.3, 1.2))
    axes = tight.subplots(1, 2, gridspec_kw={"bottom": 0.3, "top": 1.0})
    with pytest.raises(ValueError, match="above them for the titles"):
        plot_sampling(result, ax=axes)
    assert plot_sampling(result, ax=axes, titles=False, legend=False) is tight


def test_roi_labels_never_overlap_or_leave_the_canvas() -> None:
    from deformviz.plotting.rois import place_labels

    # Crowded boxes: nested, side by side, at every edge and corner of a 451 x 300 image.
    boxes = [(0, 0, 60, 40), (5, 5, 70, 45), (10, 2, 80, 50), (380, 0, 451, 30),
             (400, 260, 451, 300), (0, 270, 50, 300), (200, 140, 240, 170),
             (205, 145, 245, 175), (210, 150, 250, 180), (100, 100, 350, 250)]
    spots = place_labels(boxes, [(70.0, 14.0)] * len(boxes), (300, 451))
    rects = [(x, y, x + 70.0, y + 14.0) for x, y, _ in spots]
    for index, (x0, y0, x1, y1) in enumerate(rects):
        assert x0 >= -0.5 and y0 >= -0.5 and x1 <= 450.5 and y1 <= 299.5, rects[index]
        for other in rects[:index]:
            assert not (x0 < other[2] and other[0] < x1 and y0 < other[3] and other[1] < y1)
    figure = plot_rois(roi_result(boxes), "cvpr-column")
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    panel = figure.axes[0].get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in figure.axes[0].texts]
    assert len(labels) == len(boxes)
    for index, label in enumerate(labels):
        assert panel.x0 - 1 <= label.x0 and label.x1 <= panel.x1 + 1
        assert panel.y0 - 1 <= label.y0 and label.y1 <= panel.y1 + 1
        assert not any(label.overlaps(other) for other in labels[:index])


def test_no_two_panels_share_a_title() -> None:
    from deformviz.plotting.sampling import unit_titles
    from deformviz.visualize.results import Detection, Unit

    square = Detection((0.0, 0.0, 451.0, 300.0), "square", 0.93)
    units = [Unit((1, 1), (400.0, 280.0), "background"), Unit((1, 2), (420.0, 290.0), "background"),
             Unit((2, 2), (430.0, 270.0), "background"),
             *(Unit((i, 0), (30.0 + 60 * i, 150.0), "large object", square) for i in range(6)),
             Unit((0, 0), (10.0, 10.0), "spread"), Unit((0, 3), (12.0, 12.0), "spread")]
    titles = unit_titles(units, (300, 451))
    assert len(set(titles)) == len(titles), titles
    assert titles[3].startswith("large object: square 0.93")
    figure = plot_sampling(sampling_result(units=12), "cvpr-text")
    shown = [ax.get_title() for ax in figure.axes]
    assert len(set(shown)) == len(shown), shown
