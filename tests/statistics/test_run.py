"""Whole runs on generated scenes with the deterministic test model: agreement with evaluate,
exact shards and resumption, zero offsets, a bad image in the middle."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest
import torch

from deformviz.evaluation import EvaluationConfig, evaluate
from deformviz.evaluation.dilation_table import size_thresholds
from deformviz.statistics import (BundledNetwork, StatsOptions, merge_results, read_coco,
                                  run_statistics)
from deformviz.statistics.results import ResultError, StatsResult
from deformviz.training.trainer import TrainConfig, build_model

from .conftest import SCENE_SIDE

OPTIONS = StatsOptions(thresholds=size_thresholds(SCENE_SIDE))


def _network(model) -> BundledNetwork:
    return BundledNetwork(model, "test-model", long_side=SCENE_SIDE)


def test_agrees_with_evaluate_on_the_same_scenes(test_model, coco_scenes):
    dataset = read_coco(coco_scenes / "instances.json", coco_scenes)
    result = run_statistics(_network(test_model), dataset, OPTIONS, workers=0)
    twin = build_model(TrainConfig(deformable=False, image_size=SCENE_SIDE))
    report = evaluate(test_model, twin, EvaluationConfig(scenes=len(dataset.images), batch_size=2,
                                                         image_size=SCENE_SIDE))
    table = result.dilation.summary()
    assert report["effective_dilation"]["thresholds_px2"] == OPTIONS.thresholds.to_json()
    compared = 0
    for layer in ("res5a", "res5b", "res5c"):
        for name in ("small", "medium", "large", "background"):
            ours, theirs = table[layer][name], report["effective_dilation"][layer][name]
            assert ours["units"] == theirs["units"]
            if ours["units"] > 1:
                # evaluate runs batches of 2, stats one image at a time: float32 convolutions
                # may round differently, nothing else differs.
                assert math.isclose(ours["mean"], theirs["mean"], rel_tol=1e-5)
                assert math.isclose(ours["std"], theirs["std"], rel_tol=1e-4)
                compared += 1
    assert compared >= 9  # the scenes have small, medium and large objects and background
    assert table["res5c"]["background"]["mean"] != 2.0  # the test model's offsets are not zero


def test_shards_merged_equal_one_run_byte_for_byte(test_model, coco_scenes):
    dataset = read_coco(coco_scenes / "instances.json", coco_scenes)
    network = _network(test_model)
    whole = run_statistics(network, dataset, OPTIONS, workers=0)
    parts = [run_statistics(network, dataset, OPTIONS, shard=(i, 3), workers=1) for i in (3, 1, 2)]
    assert sum(p.selected for p in parts) == whole.selected == 4
    merged = merge_results(parts)
    assert merged.to_bytes() == whole.to_bytes()
    # Through JSON files, as --merge reads them.
    again = merge_results([StatsResult.from_json(json.loads(p.to_bytes())) for p in parts])
    assert again.to_bytes() == whole.to_bytes()
    with pytest.raises(ResultError, match=r"shards \[3\] missing"):
        merge_results(parts[1:])
    with pytest.raises(ResultError, match="twice"):
        merge_results(parts + [parts[0]])
    other = copy.deepcopy(parts[0])
    other.settings = {**other.settings, "containment": "mask"}
    with pytest.raises(ResultError, match="other settings"):
        merge_results([other, *parts[1:]])


def test_interrupted_run_resumes_to_the_same_result(test_model, coco_scenes, tmp_path):
    dataset = read_coco(coco_scenes / "instances.json", coco_scenes)
    network = _network(test_model)
    whole = run_statistics(network, dataset, OPTIONS, workers=0)
    state = tmp_path / "run.partial.json"
    seen = []

    def stop_after_three(result):
        seen.append(len(result.finished))
        if len(result.finished) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_statistics(network, dataset, OPTIONS, state_path=state, checkpoint_every=2,
                       workers=1, on_image=stop_after_three)
    saved = json.loads(state.read_text())
    assert len(saved["exact"]["finished"]) == 3 and not saved["complete"]
    measured = []
    resumed = run_statistics(network, dataset, OPTIONS, state_path=state, workers=0,
                             progress=lambda done, total: measured.append(done))
    assert measured == [3, 4]  # one image left to do
    assert resumed.to_bytes() == whole.to_bytes()
    # A state from other settings is refused, not silently mixed in.
    with pytest.raises(ResultError, match="other settings"):
        run_statistics(network, dataset, StatsOptions(), state_path=state, workers=0)


def test_zero_offsets_give_the_rigid_dilation_everywhere(coco_scenes):
    model = build_model(TrainConfig(image_size=SCENE_SIDE)).eval()
    for layer in model.stage.layers:
        torch.nn.init.zeros_(layer.conv_offset.weight)
        torch.nn.init.zeros_(layer.conv_offset.bias)
    dataset = read_coco(coco_scenes / "instances.json", coco_scenes)
    result = run_statistics(_network(model), dataset, OPTIONS, workers=0)
    for layer, row in result.dilation.summary().items():
        assert result.rigid[layer] == 2.0
        for name, entry in row.items():
            assert entry["units"] > 0
            assert entry["mean"] == 2.0 and entry["std"] == 0.0, (layer, name)
    for name, entry in result.share.summary().items():
        assert entry["deformed"] == entry["rigid"]
        assert 0 < entry["rigid"]["mean"] <= 1


def test_a_bad_image_mid_run_is_counted_and_the_run_goes_on(test_model, coco_scenes, tmp_path):
    folder = tmp_path / "scenes"
    shutil.copytree(coco_scenes, folder)
    (folder / "scene_001.png").write_bytes(b"not a png")
    dataset = read_coco(folder / "instances.json", folder)
    failures = []
    result = run_statistics(_network(test_model), dataset, OPTIONS, workers=1,
                            on_failure=lambda image_id, reason: failures.append((image_id, reason)))
    assert [image_id for image_id, _ in failures] == [20]
    assert "scene_001.png" in failures[0][1] and "\n" not in failures[0][1]
    assert result.complete and result.done == 3 and set(result.failed) == {20}
    assert json.loads(result.to_bytes())["images"]["failed"] == {"20": failures[0][1]}


def test_batched_run_equals_one_image_at_a_time(test_model, coco_scenes):
    # The scenes share one input size, so batches of 3 need no padding: each image meets the
    # network as it does alone, and the exact sums give the same table.
    dataset = read_coco(coco_scenes / "instances.json", coco_scenes)
    network = _network(test_model)
    alone = run_statistics(network, dataset, OPTIONS, workers=0)
    seen = []
    original = network.chains
    network.chains = lambda batch: seen.append(len(batch)) or original(batch)
    batched = run_statistics(network, dataset, OPTIONS, workers=0, batch_size=3)
    assert seen == [3]  # 4 images: one batch of 3, then the last alone
    assert batched.finished == alone.finished
    for layer, row in alone.to_json()["effective_dilation"].items():
        for name, entry in row.items():
            other = batched.to_json()["effective_dilation"][layer][name]
            if isinstance(entry, dict):
                assert other["units"] == entry["units"]
                assert other["mean"] == pytest.approx(entry["mean"], rel=1e-6), (layer, name)
                assert other["std"] == pytest.approx(entry["std"], rel=1e-5), (layer, name)
            else:
                assert other == entry, (layer, name)


def test_batches_group_by_orientation_and_let_failures_through():
    from deformviz.statistics.loader import FailedImage, batches

    class Item:
        def __init__(self, shape):
            self.tensor = torch.zeros(shape)

    wide, square, tall, other_wide = (Item((1, 3, 8, 16)), Item((1, 3, 8, 8)), Item((1, 3, 16, 8)),
                                      Item((1, 3, 16, 24)))
    failed = FailedImage(7, "unreadable")
    grouped = list(batches([wide, tall, failed, square, other_wide, tall], 2))
    # Sizes mix (padded together); portrait inputs wait for each other; a failure comes at once.
    assert grouped == [[failed], [wide, square], [tall, tall], [other_wide]]
    items = [wide, failed, tall, square]
    assert list(batches(items, 1)) == [[item] for item in items]  # one by one, in order


def _counts(result) -> dict:
    """Everything in a table that is a count: units per layer and class, units left out,
    object units of the in-object share, and the rigid filter's shares (geometry only)."""
    document = result.to_json()
    counts = {(layer, name): entry["units"] if isinstance(entry, dict) else entry
              for layer, row in document["effective_dilation"].items() for name, entry in row.items()}
    for name in ("small", "medium", "large"):
        counts[name] = (document["in_object_share"][name]["units"], document["in_object_share"][name]["rigid"])
    return counts


@pytest.mark.parametrize("batch_size,passes", [
    # Landscape 128x128, 96x128, 64x128 (then 80x128 alone); portrait 128x80 and 128x112.
    (3, [(3, 3, 128, 128), (2, 3, 128, 112)]),
    (6, [(4, 3, 128, 128), (2, 3, 128, 112)]),
])
def test_padded_batches_count_each_image_as_alone(test_model, mixed_coco_scenes, batch_size, passes):
    # Six sizes (MIXED_SIZES): every batch pads some of its images at the bottom and right.
    dataset = read_coco(mixed_coco_scenes / "instances.json", mixed_coco_scenes)
    network = _network(test_model)
    alone = run_statistics(network, dataset, OPTIONS, workers=0)
    shapes = []
    original = network.chains
    network.chains = lambda batch: shapes.append(tuple(batch.shape)) or original(batch)
    batched = run_statistics(network, dataset, OPTIONS, workers=0, batch_size=batch_size)
    assert shapes == passes
    assert batched.finished == alone.finished and not batched.failed
    # The same units, classes and units left out: the padding adds none, removes none.
    assert _counts(batched) == _counts(alone)
    cells = sum((h // 16) * (w // 16) for h, w in ((128, 128), (96, 128), (128, 80), (64, 128),
                                                    (128, 112), (80, 128)))
    for layer in ("res5a", "res5b", "res5c"):
        row = batched.to_json()["effective_dilation"][layer]
        assert sum(row[name]["units"] for name in ("small", "medium", "large", "background")) \
            + row["ignored_units"] == cells  # each image's own cells, nothing on the batch's padding
    # Effective dilations move where the padding reaches the activations. On these 128-px
    # scenes every unit is within a few cells of a padded border (8x8 maps, a 339-px receptive
    # field), the worst case: class means moved by up to 6 % here; 10 % is the bound tested.
    for layer, row in alone.dilation.summary().items():
        for name, entry in row.items():
            if entry["units"]:
                other = batched.dilation.summary()[layer][name]
                assert other["mean"] == pytest.approx(entry["mean"], rel=0.10), (layer, name)