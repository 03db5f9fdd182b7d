"""Figures: PNG baselines, byte-identical PDF/SVG, TrueType fonts, exact physical size."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deformviz.errors import OutputError
from deformviz.plotting import plot_rois, plot_sampling, render_figure, save_figure
from deformviz.visualize import roi_bins, sample_locations

from .baseline_cases import BASELINES, CASES, DPI

REGENERATE = "python tools/regenerate_figure_baselines.py"


@pytest.fixture(scope="module")
def sampling_result(test_model, samples: Path):
    return sample_locations(test_model, samples / "chelsea.jpg", auto=3, levels=3, long_side=256)


@pytest.mark.parametrize("name", sorted(CASES))
def test_png_matches_baseline(name: str, test_model, tmp_path: Path) -> None:
    from matplotlib.testing.compare import compare_images

    expected = BASELINES / f"{name}.png"
    assert expected.is_file(), f"missing baseline {expected}; run {REGENERATE}"
    actual = save_figure(CASES[name](test_model), tmp_path / f"{name}.png", dpi=DPI)
    difference = compare_images(str(expected), str(actual), tol=2.0)
    assert difference is None, f"{difference}\nif the change is intended, run {REGENERATE}"


@pytest.mark.parametrize("fmt", ["pdf", "svg", "png"])
def test_output_is_byte_identical_when_run_twice(sampling_result, fmt: str) -> None:
    first = render_figure(plot_sampling(sampling_result, 3.25), fmt, dpi=72)
    second = render_figure(plot_sampling(sampling_result, 3.25), fmt, dpi=72)
    assert first == second
    if fmt == "pdf":
        assert b"CreationDate" not in first and b"ModDate" not in first
    if fmt == "svg":
        assert b"<dc:date>" not in first


def test_pdf_embeds_truetype_fonts_and_has_no_type3(sampling_result) -> None:
    pdf = render_figure(plot_sampling(sampling_result, 3.25), "pdf", dpi=72)
    assert b"/CIDFontType2" in pdf or b"/TrueType" in pdf
    assert b"/FontFile2" in pdf  # the TrueType program is embedded
    assert b"/Type3" not in pdf
    assert b"/Subtype /Image" in pdf  # the photo is an embedded raster, overlays vector


@pytest.mark.parametrize("width", [3.25, 6.875, 85 / 25.4])
def test_physical_size(sampling_result, width: float) -> None:
    figure = plot_sampling(sampling_result, width)
    pdf = render_figure(figure, "pdf", dpi=72)
    box = [float(v) for v in re.search(rb"/MediaBox \[ *([^\]]+)\]", pdf).group(1).split()]
    assert box[2] == pytest.approx(width * 72, abs=1e-6)
    png = Image.open(io.BytesIO(render_figure(figure, "png", dpi=150)))
    assert png.size[0] == int(width * 150) or png.size[0] == round(width * 150)
    assert png.info["dpi"][0] == pytest.approx(150, abs=0.05)  # stored as pixels per metre
    svg = render_figure(figure, "svg", dpi=72)
    svg_width = float(re.search(rb'width="([0-9.]+)pt"', svg).group(1))
    assert svg_width == pytest.approx(width * 72, abs=1e-3)


def test_height_follows_the_image_aspect(sampling_result) -> None:
    figure = plot_sampling(sampling_result, 6.875, titles=False, legend=False)
    width, height = figure.get_size_inches()
    panel = (6.875 - 0.04 - 2 * 0.04) / 3  # 3 panels, 2 gaps, 2 margins
    assert height == pytest.approx(panel * 300 / 451 + 0.04, rel=1e-6)


def test_unknown_format_and_atomic_write(sampling_result, tmp_path: Path, monkeypatch) -> None:
    figure = plot_sampling(sampling_result, 3.25)
    with pytest.raises(OutputError, match="unknown figure format .gif"):
        save_figure(figure, tmp_path / "x.gif")
    target = tmp_path / "x.png"
    target.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("deformviz.plotting.output.render_figure", fail)
    with pytest.raises(KeyboardInterrupt):
        save_figure(figure, target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]  # no temporary left


def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    from deformviz.atomic_files import atomic_write

    target = tmp_path / "data.json"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_roi_figure_draws_every_bin(test_model, samples: Path) -> None:
    result = roi_bins(test_model, samples / "chelsea.jpg", [[40, 60, 300, 280]], long_side=256)
    figure = plot_rois(result, show_regular=True)
    collections = figure.axes[0].collections
    sizes = sorted(len(c.get_paths()) for c in collections)
    assert sizes == [1, 9, 9]  # box, regular bins, deformed bins
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts and texts[0].startswith(result.boxes[0].label)
    png = np.asarray(Image.open(io.BytesIO(render_figure(figure, "png", dpi=100))))
    assert png.shape[2] in (3, 4)


def _drawn(ax, gid: str):
    return next(c for c in ax.collections if c.get_gid() == gid)


def test_exported_points_equal_the_drawn_points(sampling_result, tmp_path: Path) -> None:
    import json

    from deformviz.visualize import save_data

    figure = plot_sampling(sampling_result, 6.875)
    save_data(sampling_result, tmp_path / "d.npz")
    save_data(sampling_result, tmp_path / "d.json")
    arrays = np.load(tmp_path / "d.npz")
    units = json.loads((tmp_path / "d.json").read_text())["units"]
    for i, ax in enumerate(figure.axes):
        unit = _drawn(ax, "unit").get_offsets()
        np.testing.assert_array_equal(unit, [units[i]["pixel"]])
        for level in (1, 2, 3):
            prefix = f"unit{i}_level{level}"
            points, active = arrays[f"{prefix}_points"], arrays[f"{prefix}_active"]
            entry = units[i]["levels"][level - 1]
            np.testing.assert_array_equal(points, np.array(entry["points"]))
            np.testing.assert_array_equal(active, np.array(entry["active"]))
            np.testing.assert_array_equal(arrays[f"{prefix}_weights"], entry["weights"])
            np.testing.assert_array_equal(arrays[f"{prefix}_parents"], entry["parents"])
            drawn = _drawn(ax, f"level{level}")
            # (x, y) order and the active filter: exactly what is drawn
            np.testing.assert_array_equal(drawn.get_offsets(), points[active])
            alphas = drawn.get_facecolors()[:, 3]
            weights = arrays[f"{prefix}_weights"][active]
            if np.allclose(weights, 1):
                assert np.all(alphas == 1)
            else:
                assert np.corrcoef(alphas, weights)[0, 1] > 0.99
            if level > 1:  # a point is active only under an active parent
                parents = arrays[f"{prefix}_parents"]
                above = arrays[f"unit{i}_level{level - 1}_active"]
                assert np.all(active <= above[parents])


def test_exported_bins_equal_the_drawn_bins(test_model, samples: Path, tmp_path: Path) -> None:
    import json

    from deformviz.visualize import save_data

    result = roi_bins(test_model, samples / "coffee.jpg",
                      [[150, 40, 430, 300], [40, 200, 180, 330]], long_side=256)
    figure = plot_rois(result, show_regular=True)
    save_data(result, tmp_path / "b.npz")
    save_data(result, tmp_path / "b.json")
    arrays = np.load(tmp_path / "b.npz")
    boxes = json.loads((tmp_path / "b.json").read_text())["boxes"]
    ax = figure.axes[0]
    for k in range(2):
        for name, gid in (("deformed_bins", f"deformed{k}"), ("regular_bins", f"regular{k}")):
            exported = arrays[name][k].reshape(-1, 4)
            np.testing.assert_array_equal(exported, np.array(boxes[k][name]).reshape(-1, 4))
            drawn = np.array([path.vertices[:4] for path in _drawn(ax, gid).get_paths()])
            x1, y1 = drawn[:, 0, 0] + 0.5, drawn[:, 0, 1] + 0.5
            x2, y2 = drawn[:, 2, 0] + 0.5, drawn[:, 2, 1] + 0.5
            np.testing.assert_allclose(np.stack([x1, y1, x2, y2], 1), exported, atol=1e-9)
        assert not np.allclose(arrays["deformed_bins"][k], arrays["regular_bins"][k])
        drawn_box = _drawn(ax, f"box{k}").get_paths()[0].vertices
        np.testing.assert_allclose(drawn_box[0] + 0.5, arrays["boxes"][k][:2])
