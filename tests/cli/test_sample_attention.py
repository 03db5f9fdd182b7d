"""`deformviz sample --model FOLDER` and `deformviz inspect FOLDER` on a Hugging Face model
folder built in code (Deformable DETR, random weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.networks.transformers_folders import write_folder


def test_auto_figure_and_data(run, detr: Path, photo: Path, tmp_path: Path) -> None:
    result = run("sample", photo, "--model", detr, "--auto", "2", "--score-threshold", "0",
                 "-o", tmp_path / "out.pdf", "--save-data", tmp_path / "out.json", model=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.pdf").read_bytes()[:4] == b"%PDF"
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["preprocessing"]["processor"].startswith("DeformableDetrImageProcessor")
    assert data["image"] == {"path": str(photo), "width": 200, "height": 120}
    assert [u["kind"] for u in data["units"]] == ["attention"] * 2
    unit = data["units"][0]
    assert unit["layer"] == "model.decoder.layers.1.encoder_attn"
    assert np.asarray(unit["points"]).shape == (2, 4, 4, 2)
    assert np.asarray(unit["weights"]).shape == (2, 4, 4)
    assert unit["reference_type"] == "box" and unit["detection"]["label"].startswith("LABEL_")


def test_encoder_at_and_through_layers(run, detr: Path, photo: Path, tmp_path: Path) -> None:
    result = run("sample", photo, "--model", detr, "--layer", "encoder1", "--at", "50", "60",
                 "--level", "2", "--split", "head", "-o", tmp_path / "enc.png", model=False)
    assert result.exit_code == 0, result.output
    result = run("sample", photo, "--model", detr, "--query", "3", "--through-layers",
                 "--save-data", tmp_path / "layers.json", "-o", tmp_path / "t.svg",
                 model=False)
    assert result.exit_code == 0, result.output
    units = json.loads((tmp_path / "layers.json").read_text())["units"]
    assert [(u["index"], u["query"]) for u in units] == [(0, 3), (1, 3)]


@pytest.mark.parametrize("args, message", [
    (("--query", "99"), "query 99 outside 0..11"),
    (("--auto", "2", "--through-layers"), "follows one query"),
    (("--layer", "nope", "--query", "1"), "no deformable layer named 'nope'"),
    (("--grid",), "--grid: not for a deformable-attention"),
    (("--query", "1", "--split", "x"), "--split 'x'"),
    (("--query", "1", "--min-weight", "1.5"), "--min-weight"),
    (("--at", "10", "10"), "decoder layer"),
    (("--query", "1", "--save-data", "x.npz"), "written as .json"),
])
def test_bad_input_exits_2(run, detr: Path, photo: Path, args, message) -> None:
    result = run("sample", photo, "--model", detr, *args, model=False)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_attention_options_need_an_attention_model(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--query", "3")
    assert result.exit_code == 2 and "--query: only for deformable-attention" in result.output


def test_inspect_lists_attention_layers(run, detr: Path) -> None:
    result = run("inspect", detr, model=False)
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if "_attn" in line
            and line.startswith("  model.")]
    assert [row[:8] for row in rows] == [
        [f"model.encoder.layers.{i}.self_attn", f"encoder{i}", "encoder", "(self)", "2", "4",
         "4", "32"] for i in range(2)] + [
        [f"model.decoder.layers.{i}.encoder_attn", f"decoder{i}", "decoder", "(cross)", "2",
         "4", "4", "32"] for i in range(2)]
    assert "logits, pred_boxes" in result.output


def test_d_fine_with_uneven_points_per_level(run, photo: Path, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "dfine", "d_fine")
    inspected = run("inspect", folder, model=False)
    assert inspected.exit_code == 0, inspected.output
    assert "2,4,3" in inspected.output
    result = run("sample", photo, "--model", folder, "--query", "4", "--split", "level",
                 "-o", tmp_path / "levels.png", "--save-data", tmp_path / "q4.json",
                 model=False)
    assert result.exit_code == 0, result.output
    unit = json.loads((tmp_path / "q4.json").read_text())["units"][0]
    # Each level's list holds its own points (no padding), for every head.
    assert [[len(level) for level in head] for head in unit["points"]] == [[2, 4, 3]] * 2
    assert [[len(level) for level in head] for head in unit["weights"]] == [[2, 4, 3]] * 2
    assert np.isfinite(np.concatenate([np.asarray(level).ravel() for head in unit["points"]
                                       for level in head])).all()
    total = sum(sum(level) for level in unit["weights"][0])
    assert total == pytest.approx(1.0, abs=1e-5)  # head 0's softmax over its 9 points


@pytest.mark.parametrize("command", ["sample", "explore", "stats"])
def test_resize_options_for_a_folder_say_why(run, detr: Path, photo: Path, command: str) -> None:
    # The folder's own image processor decides the input, in every command alike.
    args = [photo]
    if command == "stats":
        annotations = photo.parent / "instances.json"
        annotations.write_text(json.dumps({
            "images": [{"id": 1, "file_name": photo.name, "width": 200, "height": 120}],
            "annotations": [{"id": 1, "image_id": 1, "bbox": [10, 10, 50, 40],
                             "category_id": 1, "area": 2000, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "thing"}]}))
        args = [photo.parent, "-a", annotations, "-o", photo.parent / "table.json"]
    result = run(command, *args, "--model", detr, "--short-side", "300", model=False)
    assert result.exit_code == 2
    assert "--short-side: not for a Hugging Face model folder (it holds its weights, and its " \
           "own image processor decides the input)" in " ".join(result.output.split())
