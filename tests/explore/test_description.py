"""The explore page's description and file, without a browser: what the network did goes in
exactly, the page is self-contained and small, and bad input fails on one line, writing
nothing."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deformviz.capture import capture_dense
from deformviz.cli import app
from deformviz.errors import OutputError
from deformviz.explore import describe_image, render_page, write_page
from deformviz.imaging import load_image, prepare_for_model
from deformviz.plotting import style
from deformviz.visualize import roi_bins


def _decode(encoded: dict) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(encoded["float32"]), dtype="<f4")
    return values.reshape(encoded["shape"])


@pytest.fixture(scope="module")
def described(test_model, samples: Path):
    return describe_image(test_model, samples / "scene_001.png", image_argument="scene.png",
                          command_arguments=("--model", "net.pt"))


def test_offsets_and_geometry_are_what_the_network_used(described, test_model, samples) -> None:
    model_input = prepare_for_model(load_image(samples / "scene_001.png"), 512)
    capture = capture_dense(test_model, model_input.tensor)
    data = json.loads(described.to_json())
    assert [layer["label"] for layer in data["layers"]] == list(capture.layer_names)
    for layer, offset, geometry in zip(data["layers"], capture.offsets, capture.layers):
        np.testing.assert_array_equal(_decode(layer["offset"]), offset.numpy())
        assert layer["mask"] is None
        assert tuple(layer["kernel_size"]) == geometry.kernel_size
        assert tuple(layer["dilation"]) == geometry.dilation
        assert tuple(layer["padding"]) == geometry.padding
        assert layer["input_size"] == layer["output_size"] == list(capture.feature_size)
        assert layer["input_grid"] == layer["output_grid"] == {
            "stride": [16.0, 16.0], "origin": [15.0, 15.0]}
    assert [layer["label"] for layer in data["layers"]] == ["res5a", "res5b", "res5c"]
    assert data["resized_size"] == list(model_input.resized_size)
    assert (data["image"]["height"], data["image"]["width"]) == model_input.original_size
    assert data["command"] == {"program": "deformviz sample", "image": "scene.png",
                               "arguments": ["--model", "net.pt"]}


def test_dcnv2_masks_go_in_as_the_operator_used_them(samples: Path) -> None:
    import torch

    from deformviz.models.detector import DeformableDetector, DetectorConfig

    torch.manual_seed(0)
    model = DeformableDetector(DetectorConfig(modulated=True)).eval()
    data = describe_image(model, samples / "scene_000.png", image_argument="x.png",
                          long_side=128, max_boxes=2)
    capture = capture_dense(model, prepare_for_model(load_image(samples / "scene_000.png"),
                                                     128).tensor)
    decoded = json.loads(data.to_json())["layers"]
    for layer, mask in zip(decoded, capture.masks):
        assert mask is not None and layer["mask"]["shape"] == [9, 8, 8]
        np.testing.assert_array_equal(_decode(layer["mask"]), mask.numpy())
    assert "DCNv2" in data.architecture


def test_colours_come_from_the_figures_style(described) -> None:
    colours = json.loads(described.to_json())["colours"]
    assert colours["levels"] == list(style.LAYER_COLORS)
    for count in range(1, style.MAX_LEVELS + 1):  # a figure of any depth: the same prefix
        assert list(style.level_colors(count)) == colours["levels"][:count]
    assert colours["unit"] == style.UNIT_COLOR
    assert colours["box"] == style.BOX_COLOR and colours["bin"] == style.BIN_COLOR
    roles = [colours["unit"], colours["box"], colours["bin"], colours["regular_bin"]]
    assert not set(roles) & set(colours["levels"]) and len(set(roles)) == len(roles)


def test_detections_carry_the_roi_heads_deformed_bins(described, test_model, samples) -> None:
    expected = roi_bins(test_model, samples / "scene_001.png")
    assert len(described.detections) == len(expected.boxes)
    for box, bins in zip(described.detections, expected.boxes):
        assert box.box == bins.box
        np.testing.assert_array_equal(box.deformed_bins, bins.deformed)
        np.testing.assert_array_equal(box.regular_bins, bins.regular)


def test_page_is_self_contained_and_small(described) -> None:
    page = render_page(described).decode("utf-8")
    assert len(page.encode()) < 5_000_000  # the limit for a 512 px image
    # Nothing to fetch: no external scripts, styles, fonts or images; the policy forbids it.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page
    assert not re.search(r"\{\{(TITLE|STYLE|SCRIPT|DATA)\}\}", page)  # every slot filled


def test_names_cannot_break_out_of_the_page(described, tmp_path: Path) -> None:
    from dataclasses import replace

    hostile = replace(described, image_name="</script><script>alert(1)</script>{{DATA}}")
    page = render_page(hostile).decode("utf-8")
    assert page.count("</script>") == 2  # the data and the code, nothing injected
    assert page.count('id="deformviz-data"') == 1


def test_write_page_is_atomic_and_wants_html(described, tmp_path: Path) -> None:
    path = write_page(described, tmp_path / "page.html")
    assert path.read_bytes() == render_page(described)
    with pytest.raises(OutputError, match="html"):
        write_page(described, tmp_path / "page.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch, test_model_path: Path):
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str):
        return CliRunner().invoke(app, ["explore", *map(str, args),
                                        "--model", str(test_model_path), "--device", "cpu"])
    return invoke


def test_cli_default_output_name(cli, samples: Path, tmp_path: Path) -> None:
    result = cli(samples / "scene_000.png", "--levels", "2", "--size", "256")
    assert result.exit_code == 0, result.output
    page = tmp_path / "scene_000_explore.html"
    assert result.stdout.strip() == page.name
    text = page.read_text()
    data = json.loads(re.search(r'id="deformviz-data">(.*?)</script>', text, re.S).group(1))
    assert data["levels"] == 2 and data["resized_size"] == [256, 256]
    assert data["command"]["arguments"][-2:] == ["--size", "256"]


@pytest.mark.parametrize("args, message", [
    (["missing.jpg"], "missing.jpg: no such file"),
    (["{samples}/CREDITS.md"], "not an image"),
    (["{samples}/scene_000.png", "-o", "page.png"], "give an output file ending in .html"),
    (["{samples}/scene_000.png", "-o", "no/such/dir/x.html"], None),
    (["{samples}/scene_000.png", "--levels", "4"], "--levels 4"),
    (["{samples}/scene_000.png", "--levels", "7"], "--levels"),
    (["{samples}/scene_000.png", "--size", "500"], "multiple of 16"),
])
def test_cli_bad_input_one_line_exit_2_nothing_written(cli, samples: Path, tmp_path: Path,
                                                       args, message) -> None:
    before = set(tmp_path.rglob("*"))
    if args[-1] == "no/such/dir/x.html":  # a folder that cannot be created: a file in the way
        (tmp_path / "no").write_text("in the way")
        before = set(tmp_path.rglob("*"))
    result = cli(*[a.format(samples=samples) for a in args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    if message:
        assert message in result.output
    assert set(tmp_path.rglob("*")) == before


def test_cli_never_overwrites_the_image(cli, samples: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.html"  # an image file that happens to end in .html
    image.write_bytes((samples / "scene_000.png").read_bytes())
    result = cli(image, "-o", image)
    assert result.exit_code == 2 and "is an input" in result.output
    assert image.read_bytes() == (samples / "scene_000.png").read_bytes()


def _fail_on_disk(monkeypatch) -> None:
    """The disk fills up while the page is written (the bytes are flushed, then fsync fails)."""
    import errno
    import os

    import deformviz.atomic_files as atomic_files

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_files.os, "fsync", full)


def test_a_failed_page_write_leaves_the_old_page_and_nothing_else(described, tmp_path: Path,
                                                                  monkeypatch) -> None:
    old = tmp_path / "page.html"
    old.write_bytes(b"<html>the page of yesterday</html>")
    _fail_on_disk(monkeypatch)
    with pytest.raises(OSError):
        write_page(described, old)
    assert old.read_bytes() == b"<html>the page of yesterday</html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]  # no temporary file


def test_cli_page_write_failing_leaves_old_page_and_no_new_folder(cli, samples: Path,
                                                                  tmp_path: Path,
                                                                  monkeypatch) -> None:
    old = tmp_path / "page.html"
    old.write_bytes(b"<html>the page of yesterday</html>")
    _fail_on_disk(monkeypatch)
    for target in ("page.html", "new/deeper/page.html"):
        before = set(tmp_path.rglob("*"))
        result = cli(samples / "scene_000.png", "-o", target, "--size", "128")
        assert result.exit_code != 0 and "Traceback" not in result.output, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "No space left" in errors[0], result.output
        assert set(tmp_path.rglob("*")) == before  # no temporary file, no `new/` left
        assert old.read_bytes() == b"<html>the page of yesterday</html>"
