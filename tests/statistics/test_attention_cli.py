"""`deformviz stats --model FOLDER` for a deformable-attention model (a small random Deformable
DETR folder): tables, JSON and figure; shards merged through the command line equal one run;
options of the other family and mixed merges are one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deformviz.cli import app
from deformviz.networks import load_network
from tests.networks.transformers_folders import write_folder
from tests.statistics.attention_datasets import MATCH_IOU, write_attention_dataset
from tests.statistics.test_cli import _one_error_line


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("hf") / "detr")


@pytest.fixture(scope="module")
def scenes(folder, tmp_path_factory) -> Path:
    images = tmp_path_factory.mktemp("attention_scenes")
    write_attention_dataset(images, load_network(folder))
    return images


@pytest.fixture
def stats(folder, scenes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def invoke(*args, model: bool = True):
        argv = ["stats", *[str(a) for a in args]]
        if model:
            argv = ["stats", str(scenes), "-a", str(scenes / "instances.json"), "--model",
                    str(folder), "--workers", "0", *argv[1:]]
        return CliRunner().invoke(app, argv)

    return invoke


def test_tables_json_and_figure(stats, tmp_path):
    result = stats("--score-threshold", "0", "--match-iou", MATCH_IOU, "--objects", "mask",
                   "--layers", "decoder1,encoder0", "-o", "attention.json", "--figure", "fig.png")
    assert result.exit_code == 0, result.output
    assert "encoder0: encoder queries (cells) by what they sit on" in result.output
    assert "decoder1: decoder queries whose detection matched an object" in result.output
    document = json.loads((tmp_path / "attention.json").read_text())
    settings = document["settings"]
    assert settings["family"] == "attention" and settings["layers"] == ["encoder0", "decoder1"]
    assert settings["score_threshold"] == 0.0 and settings["match_iou"] == MATCH_IOU
    assert settings["containment"] == "mask" and "share_levels" not in settings
    assert settings["network"]["format"] == "transformers"
    assert settings["network"]["layers"] == ["model.encoder.layers.0.self_attn",
                                             "model.decoder.layers.1.encoder_attn"]
    decoder = document["attention"]["decoder1"]
    assert decoder["stage"] == "decoder"
    assert sum(decoder[k]["spread_px"]["queries"] for k in ("small", "medium", "large")) >= 8
    assert document["images"] == {"selected": 4, "done": 4, "failed": {}}
    assert (tmp_path / "fig.png").stat().st_size > 1000
    assert not (tmp_path / "attention.partial.json").exists()


def test_shards_merged_on_the_command_line_equal_one_run(stats, tmp_path):
    assert stats("--score-threshold", "0", "-o", "whole.json").exit_code == 0
    for index in (1, 2):
        result = stats("--score-threshold", "0", "--shard", f"{index}/2")
        assert result.exit_code == 0, result.output
    merged = stats("--merge", "stats.shard-1-of-2.json", "stats.shard-2-of-2.json", "-o",
                   "merged.json", "--figure", "merged.pdf", model=False)
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "merged.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert "decoder1" in merged.output and (tmp_path / "merged.pdf").exists()


@pytest.mark.parametrize("args, phrase", [
    (["--long-side", "128"], "--long-side/--size: not for a deformable-attention model"),
    (["--batch-size", "2"], "--batch-size: not for a deformable-attention model"),
    (["--layers", "decoder9"], "no deformable layer named 'decoder9'"),
    (["--layers", "decoder1,decoder1"], "named twice"),
    (["--match-iou", "0"], "match IoU 0: expected an overlap in (0, 1]"),
    (["--score-threshold", "2"], "not in the range"),
])
def test_bad_options_for_an_attention_model(stats, tmp_path, args, phrase):
    result = stats(*args)
    if phrase == "not in the range":  # click's own range check: a usage error, exit 2
        assert result.exit_code == 2 and phrase in result.output
    else:
        _one_error_line(result, phrase)
    assert not (tmp_path / "stats.json").exists()


def test_attention_options_for_a_convolution_model(stats, coco_scenes, test_model_path):
    result = stats(coco_scenes, "-a", coco_scenes / "instances.json", "--model", test_model_path,
                   "--size", "128", "--workers", "0", "--score-threshold", "0.5", "--match-iou",
                   "0.7", model=False)
    _one_error_line(result, "--score-threshold, --match-iou: only for deformable-attention networks")


def test_a_convolution_table_and_an_attention_table_do_not_merge(stats, coco_scenes,
                                                                 test_model_path):
    conv = stats(coco_scenes, "-a", coco_scenes / "instances.json", "--model", test_model_path,
                 "--size", "128", "--workers", "0", "--limit", "1", "-o", "conv.json", model=False)
    assert conv.exit_code == 0, conv.output
    assert stats("--limit", "1", "-o", "attention.json").exit_code == 0
    result = stats("--merge", "conv.json", "attention.json", "-o", "both.json", model=False)
    _one_error_line(result, "attention.json is a table of attention layers and conv.json one "
                            "of convolution layers; they cannot be merged")


def test_two_ranks_give_the_single_process_table(folder, scenes, tmp_path, monkeypatch):
    from tests.statistics.test_distributed import TIMEOUT_S, _torchrun

    args = [scenes, "-a", scenes / "instances.json", "--model", folder, "--workers", "0",
            "--score-threshold", "0", "--match-iou", MATCH_IOU, "--checkpoint-every", "1"]
    job = _torchrun([*args, "-o", "ranks.json"], tmp_path)
    out, err = job.communicate(timeout=TIMEOUT_S)
    assert job.returncode == 0, err
    assert "4 images measured, 0 failed" in out and "on 2 processes" in out
    monkeypatch.chdir(tmp_path)  # one thread here too (tests.fixtures_model._one_thread)
    single = CliRunner().invoke(app, ["stats", *[str(a) for a in args], "-o", "single.json"])
    assert single.exit_code == 0, single.output
    assert (tmp_path / "ranks.json").read_bytes() == (tmp_path / "single.json").read_bytes()


def test_a_factorys_attention_network(stats, scenes, tmp_path):
    from tests.cli.test_sample_attention_factory import HF_FACTORY

    factory = tmp_path / "detr_factory.py"
    factory.write_text(HF_FACTORY)
    common = [scenes, "-a", scenes / "instances.json", "--workers", "0", "--limit", "2",
              "--score-threshold", "0"]
    result = stats(*common, "--model-factory", f"{factory}:build", "-o", "factory.json",
                   model=False)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "factory.json").read_text())
    assert document["settings"]["layers"] == ["encoder1", "decoder1"]
    assert document["settings"]["network"]["format"] == "factory"
    # Without its detection head the outputs hold no detections: the encoder alone by default,
    # and a decoder layer named is refused before the run.
    bare = stats(*common, "--model-factory", f"{factory}:build_bare", "-o", "bare.json",
                 model=False)
    assert bare.exit_code == 0, bare.output
    assert json.loads((tmp_path / "bare.json").read_text())["settings"]["layers"] == ["encoder1"]
    _one_error_line(stats(*common, "--model-factory", f"{factory}:build_bare", "--layers",
                          "decoder1", model=False), "decoder1: decoder queries are counted")
