"""The evaluation's pieces on hand-made cases, and its report on a small set."""

from __future__ import annotations

import json
import math

import pytest
import torch

from deformviz.evaluation import EvaluationConfig, evaluate
from deformviz.evaluation.detection import average_precision
from deformviz.evaluation.dilation_table import CATEGORIES, size_thresholds, unit_categories
from deformviz.training.trainer import TrainConfig, build_model


def test_average_precision_hand_case():
    gt = [(torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), torch.tensor([0, 0]))]
    perfect = [(gt[0][0], torch.tensor([0.9, 0.8]), torch.tensor([0, 0]))]
    assert average_precision(perfect, gt, 1) == [1.0]
    # One hit ranked below a false positive: precision 1/2 at recall 1/2 -> AP 0.25.
    half = [(torch.tensor([[50.0, 50, 60, 60], [0, 0, 10, 10]]), torch.tensor([0.9, 0.8]),
             torch.tensor([0, 0]))]
    assert average_precision(half, gt, 1) == [0.25]
    assert math.isnan(average_precision(perfect, gt, 2)[1])


def test_unit_categories_by_the_smallest_containing_box():
    thresholds = size_thresholds(256)
    small, large = thresholds.small_below, thresholds.large_above
    assert round(small ** 0.5, 2) == 40.96 and round(large ** 0.5, 2) == 95.57
    boxes = torch.tensor([[0.0, 0, 200, 200], [10, 10, 30, 30], [100, 100, 160, 160]])
    units = torch.tensor([[20.0, 20], [120, 120], [180, 50], [230, 230]])
    names = [CATEGORIES[i] for i in unit_categories(units, boxes, 256)]
    assert names == ["small", "medium", "large", "background"]


def test_report_has_the_expected_fields():
    model, twin = build_model(TrainConfig()), build_model(TrainConfig(deformable=False))
    report = evaluate(model, twin, EvaluationConfig(scenes=4, batch_size=4))
    json.dumps(report)  # JSON-ready
    assert set(report["detection"]) == {"deformable", "plain"}
    assert 0 <= report["detection"]["deformable"]["mAP50"] <= 1
    for layer in ("res5a", "res5b", "res5c"):
        assert set(report["effective_dilation"][layer]) == set(CATEGORIES)
    # Untrained: zero offsets, every filter the rigid dilation-2 grid.
    assert report["effective_dilation"]["res5c"]["background"]["mean"] == 2.0
    assert {"deformable_accuracy", "plain_accuracy", "bin_centres_in_mask_regular",
            "bin_centres_in_mask_deformed", "boxes"} <= set(report["roi"])
    assert report["roi"]["bin_centres_in_mask_regular"] == report["roi"]["bin_centres_in_mask_deformed"]


def test_held_out_scenes_default_to_the_size_the_model_was_trained_at():
    model = build_model(TrainConfig(image_size=128))
    twin = build_model(TrainConfig(deformable=False, image_size=128))
    assert model.config.training_image_size == 128
    report = evaluate(model, twin, EvaluationConfig(scenes=2, batch_size=2))
    assert report["config"]["image_size"] == 128
    assert report["effective_dilation"]["thresholds_px2"] == size_thresholds(128).to_json()
    # An explicit size wins.
    report = evaluate(model, twin, EvaluationConfig(scenes=2, batch_size=2, image_size=96))
    assert report["config"]["image_size"] == 96
    with pytest.raises(ValueError, match="multiple of 16"):
        EvaluationConfig(image_size=100)
