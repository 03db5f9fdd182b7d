"""`deformviz stats` through the real command line: a run with its outputs, merging, and every
bad input as one line with exit code 2, found before the long run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deformviz.cli import app


@pytest.fixture
def cli(test_model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, model: bool = True):
        argv = ["stats", *[str(a) for a in args]]
        if model:
            argv += ["--model", str(test_model_path), "--size", "128", "--workers", "0"]
        return runner.invoke(app, argv)

    return invoke


def _one_error_line(result, phrase: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert phrase in lines[0], lines[0]


def test_run_writes_json_tables_and_figure(cli, coco_scenes, tmp_path):
    result = cli(coco_scenes, "-a", coco_scenes / "instances.json", "-o", "table.json",
                 "--thresholds", "41,96", "--figure", "table.png", "--limit", "2")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "table.json").read_text())
    assert document["images"] == {"selected": 2, "done": 2, "failed": {}}
    assert document["limit"] == 2 and document["complete"]
    assert "Effective dilation" in result.output and "res5c" in result.output
    assert (tmp_path / "table.png").stat().st_size > 1000
    assert not (tmp_path / "table.partial.json").exists()


def test_shards_then_merge_equal_one_run(cli, coco_scenes, tmp_path):
    annotations = coco_scenes / "instances.json"
    assert cli(coco_scenes, "-a", annotations, "-o", "whole.json").exit_code == 0
    for index in (1, 2):
        result = cli(coco_scenes, "-a", annotations, "--shard", f"{index}/2")
        assert result.exit_code == 0, result.output
    merged = cli("--merge", "stats.shard-1-of-2.json", "stats.shard-2-of-2.json", "-o", "merged.json",
                 model=False)
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "merged.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    missing = cli("--merge", "stats.shard-1-of-2.json", "-o", "m.json", model=False)
    _one_error_line(missing, "shards [2] missing")
    twice = cli("--merge", "stats.shard-1-of-2.json", "stats.shard-1-of-2.json", "-o", "m.json",
                model=False)
    _one_error_line(twice, "shards [1] given twice (duplicates)")
    clobber = cli("--merge", "stats.shard-1-of-2.json", "stats.shard-2-of-2.json", "-o",
                  "stats.shard-1-of-2.json", model=False)
    _one_error_line(clobber, "is an input")


def _write(folder: Path, data) -> Path:
    path = folder / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _valid() -> dict:
    return {"images": [{"id": 1, "file_name": "scene_000.png", "height": 128, "width": 128}],
            "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40]}],
            "categories": [{"id": 1, "name": "thing"}]}


@pytest.mark.parametrize("change, phrase", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: {"annotations": []}, "no 'images' list"),
    (lambda d: {**d, "images": [{"id": 7, "file_name": "nope.png"}]}, "1 of 1 images in bad.json match no file"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "image_id": 5}]}, "image_id 5 matches no image"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "category_id": 9}]}, "category_id 9 is not in 'categories'"),
    (lambda d: {**d, "categories": [{"name": "x"}]}, "categories[0] has no integer 'id'"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "bbox": [1, 2, 3]}]}, "is not four finite numbers"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "bbox": [1, 2, "a", 4]}]}, "is not four finite numbers"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "bbox": [1, 2, -3, 4]}]}, "negative width"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "segmentation": [[1, 2]]}]}, "polygon"),
])
def test_bad_annotations_are_one_line_before_the_run(cli, coco_scenes, tmp_path, change, phrase):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(coco_scenes / "scene_000.png", folder)
    result = cli(folder, "-a", _write(tmp_path, change(_valid())))
    _one_error_line(result, phrase)
    assert not (tmp_path / "stats.json").exists()


@pytest.mark.parametrize("args, phrase", [
    (["-a", "missing.json"], "no such annotation file"),
    (["--thresholds", "big"], "--thresholds 'big': expected coco, paper"),
    (["--shard", "3/2"], "--shard '3/2': need 1 <= i <= n"),
    (["--figure", "out.gif"], "unknown figure format"),
])
def test_bad_options_are_one_line(cli, coco_scenes, args, phrase):
    if "-a" not in args:
        args = ["-a", str(coco_scenes / "instances.json"), *args]
    _one_error_line(cli(coco_scenes, *args), phrase)


def test_merge_of_damaged_or_foreign_files(cli, tmp_path):
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    _one_error_line(cli("--merge", "x.json", model=False), "not a deformviz stats result")
    _one_error_line(cli("--merge", "absent.json", model=False), "no such file")
