"""`deformviz sample`: figures and data from images, one or many."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image


def test_sample_png_end_to_end(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "-o", "x.png", "--size", "256", "--dpi", "100")
    assert result.exit_code == 0, result.output
    assert result.stdout == "x.png\n" and result.stderr == ""
    png = Image.open("x.png")
    assert png.size[0] == int(6.875 * 100)  # three auto units: text width by default


def test_sample_default_name_and_units(run, samples: Path) -> None:
    result = run("sample", samples / "coffee.jpg", "--at", "100", "120", "--at", "300", "200",
                 "--levels", "2", "--size", "256", "--save-data", "d.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["coffee_sample.png", "d.json"]
    data = json.loads(Path("d.json").read_text())
    assert [u["role"] for u in data["units"]] == ["requested", "requested"]
    assert [len(level["points"]) for level in data["units"][0]["levels"]] == [9, 81]


def test_sample_grid_svg_and_npz(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--grid", "--grid-step", "4", "-o",
                 "grid.svg", "--save-data", "grid.npz", "--size", "256", "-w", "85mm")
    assert result.exit_code == 0, result.output
    svg = Path("grid.svg").read_text()
    assert float(re.search(r'width="([0-9.]+)pt"', svg).group(1)) == \
        round(85 / 25.4 * 72, 6) or abs(float(re.search(r'width="([0-9.]+)pt"', svg).group(1)) - 85 / 25.4 * 72) < 1e-3
    arrays = np.load("grid.npz")
    assert arrays["unit0_level1_points"].shape == (9, 2)
    assert json.loads(str(arrays["meta"]))["mode"] == "grid"


def test_sample_pdf_twice_is_identical(run, samples: Path) -> None:
    args = ("sample", samples / "chelsea.jpg", "--auto", "2", "--size", "256", "-w", "cvpr")
    assert run(*args, "-o", "a.pdf").exit_code == 0
    assert run(*args, "-o", "b.pdf").exit_code == 0
    assert Path("a.pdf").read_bytes() == Path("b.pdf").read_bytes()


def test_batch_folder_progress_summary_and_failures(run, samples: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        (inputs / name).write_bytes((samples / name).read_bytes())
    (inputs / "broken.png").write_text("not an image")
    result = run("sample", inputs, "-o", "figures", "-f", "pdf", "--size", "128",
                 "--save-data", "data")
    assert result.exit_code == 2  # one bad input; the others were still drawn
    assert result.stdout.split() == ["figures/chelsea_sample.pdf", "data/chelsea_sample.json",
                                     "figures/coffee_sample.pdf", "data/coffee_sample.json"]
    assert "error: " in result.stderr and "broken.png: not an image" in result.stderr
    assert "sample: 2 of 3 images done" in result.stderr and "1 failed" in result.stderr
    assert sorted(p.name for p in Path("figures").iterdir()) == ["chelsea_sample.pdf",
                                                                 "coffee_sample.pdf"]


def test_batch_of_files_with_same_stem(run, samples: Path, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.jpg").write_bytes((samples / "chelsea.jpg").read_bytes())
    result = run("sample", tmp_path / "a" / "img.jpg", tmp_path / "b" / "img.jpg", "-o", "out",
                 "--size", "128", "--levels", "1", "--auto", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["out/img_sample.png", "out/img_sample_2.png"]
