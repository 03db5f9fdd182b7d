"""`deformviz explore IMAGE --model FOLDER` for a deformable-attention network (a small random
Deformable DETR folder built in code): the page, the options only one family takes (one-line
errors, exit 2, nothing written), and inputs never overwritten."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _page_data(page: Path) -> dict:
    text = page.read_text()
    found = re.search(r'<script type="application/json" id="deformviz-data">(.*?)</script>',
                      text, re.S)
    return json.loads(found.group(1))


def test_writes_the_attention_page(run, detr: Path, photo: Path, tmp_path: Path) -> None:
    page = tmp_path / "out" / "page.html"
    result = run("explore", photo, "--model", detr, "-o", page, "--score-threshold", "0",
                 "--max-boxes", "3", "--layer", "encoder0", "--encoder-levels", "2,4",
                 model=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(page)
    data = _page_data(page)
    assert data["kind"] == "attention"
    assert data["encoder"]["label"] == "encoder0" and data["encoder"]["levels"] == [1, 3]
    assert len(data["detections"]) == 3 and len(data["decoder"]) == 2
    assert data["command"]["arguments"] == ["--model", str(detr), "--score-threshold", "0"]
    assert data["image"]["width"] == 200 and data["image"]["height"] == 120


def test_default_page_name_and_every_level(run, detr: Path, photo: Path, tmp_path) -> None:
    result = run("explore", photo, "--model", detr, "--encoder-levels", "all", model=False)
    assert result.exit_code == 0, result.output
    page = tmp_path / "photo_explore.html"  # run() works in tmp_path
    data = _page_data(page)
    assert data["encoder"]["label"] == "encoder1" and data["encoder"]["levels"] == [0, 1, 2, 3]
    assert data["command"]["arguments"] == ["--model", str(detr)]


@pytest.mark.parametrize("args, message", [
    (("--levels", "2"), "--levels: not for a deformable-attention network"),
    (("--layers", "res5a"), "--layers: not for a deformable-attention network"),
    (("--group", "1"), "--group: not for a deformable-attention network"),
    (("--long-side", "640"), "--long-side: not for a deformable-attention network"),
    (("--encoder-levels", "0"), "--encoder-levels '0'"),
    (("--encoder-levels", "7"), "level 7 outside 1..4"),
    (("--layer", "decoder9"), "decoder9"),
    (("--layer", "encoder0", "--layer", "encoder1"), "one encoder layer"),
    (("--short-side", "300"), "--short-side"),
])
def test_convolution_options_exit_2(run, detr: Path, photo: Path, tmp_path: Path, args,
                                    message) -> None:
    page = tmp_path / "bad.html"
    result = run("explore", photo, "--model", detr, "-o", page, *args, model=False)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not page.exists()


@pytest.mark.parametrize("args", [("--layer", "decoder1"), ("--encoder-levels", "2")])
def test_attention_options_for_a_convolution_network_exit_2(run, samples: Path, tmp_path: Path,
                                                            args) -> None:
    page = tmp_path / "bad.html"
    result = run("explore", samples / "chelsea.jpg", "-o", page, *args)
    assert result.exit_code == 2, result.output
    assert f"{args[0]}: only for deformable-attention networks" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not page.exists()


def test_never_overwrites_an_input(run, detr: Path, tmp_path: Path) -> None:
    picture = tmp_path / "photo.html"  # an photo whose name ends like a page
    pixels = np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(picture, format="PNG")
    before = picture.read_bytes()
    result = run("explore", picture, "--model", detr, "-o", picture, model=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert picture.read_bytes() == before
    config = (detr / "config.json").read_bytes()
    result = run("explore", picture, "--model", detr, "-o", detr / "config.json",
                 model=False)
    assert result.exit_code == 2 and (detr / "config.json").read_bytes() == config


def _sample_units(run, page_data: dict, extra: list[str], folder: Path) -> list[dict]:
    """Run `deformviz sample` with the page's command arguments plus `extra`; its units."""
    command = page_data["command"]
    result = run("sample", command["image"], *command["arguments"], *extra,
                 "-o", folder / "figure.png", "--save-data", folder / "units.json", model=False)
    assert result.exit_code == 0, result.output
    return json.loads((folder / "units.json").read_text())["units"]


def test_a_factorys_detr_page_and_its_command(run, photo: Path, tmp_path: Path) -> None:
    from tests.cli.test_sample_attention_factory import HF_FACTORY

    from tests.explore.attention_page import TOLERANCE, decoded

    factory = tmp_path / "detr_factory.py"
    factory.write_text(HF_FACTORY)
    page = tmp_path / "page.html"
    result = run("explore", photo, "--model-factory", f"{factory}:build", "--short-side", "96",
                 "--score-threshold", "0", "--max-boxes", "2", "-o", page, model=False)
    assert result.exit_code == 0, result.output
    data = _page_data(page)
    assert data["command"]["arguments"] == ["--model-factory", f"{factory}:build",
                                            "--short-side", "96", "--score-threshold", "0"]
    layer = data["decoder"][-1]
    (block,) = layer["blocks"]
    units = _sample_units(run, data, ["--layer", layer["label"], "--query",
                                      str(block["queries"][0])], tmp_path)
    assert units[0]["layer"] == layer["name"] and units[0]["query"] == block["queries"][0]
    np.testing.assert_allclose(units[0]["points"], decoded(block["points"])[0],
                               atol=TOLERANCE, rtol=0)
    encoder = data["encoder"]
    level, block = encoder["levels"][-1], encoder["blocks"][-1]
    units = _sample_units(run, data, ["--layer", encoder["label"], "--at", "10", "20",
                                      "--level", str(level + 1)], tmp_path)
    n = block["queries"].index(units[0]["query"])
    np.testing.assert_allclose(units[0]["points"], decoded(block["points"])[n],
                               atol=TOLERANCE, rtol=0)


def test_an_encoder_only_network_gets_an_encoder_page(run, photo: Path, tmp_path: Path,
                                                      monkeypatch) -> None:
    pytest.importorskip("mmcv")
    import sys

    from tests.cli.test_sample_attention_factory import MMCV_FACTORY
    from tests.probe.test_attention_mmcv import _stand_in_extension

    if "mmcv._ext" not in sys.modules:
        monkeypatch.setitem(sys.modules, "mmcv._ext", _stand_in_extension())
    factory = tmp_path / "mmcv_factory.py"
    factory.write_text(MMCV_FACTORY)
    page = tmp_path / "page.html"
    result = run("explore", photo, "--model-factory", f"{factory}:build", "-o", page,
                 model=False)
    assert result.exit_code == 0, result.output
    data = _page_data(page)
    assert data["detections"] == [] and data["decoder"] == []
    assert data["encoder"]["name"] == "layers.1" and data["encoder"]["levels"] == [0, 1]
