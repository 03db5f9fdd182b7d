"""A few steps on a tiny configuration lower the loss; checkpoints resume."""

from __future__ import annotations

import json

import pytest

from deformviz.training.trainer import TrainConfig, load_or_build_cache, train


def test_training_lowers_the_loss_and_resumes(tmp_path):
    config = TrainConfig(train_scenes=24, epochs=4, batch_size=8, learning_rate=3e-3, image_size=256)
    train(config, tmp_path / "run", resume=False)
    epochs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    total = [sum(v for k, v in e.items() if k not in ("epoch", "seconds")) for e in epochs]
    assert len(epochs) == 4
    assert total[-1] < total[0] * 0.9, total

    longer = TrainConfig(train_scenes=24, epochs=4, batch_size=8, learning_rate=3e-3, image_size=256)
    train(longer, tmp_path / "run", resume=True)  # already complete: nothing more to do
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 4


def test_the_feature_cache_is_rebuilt_for_another_image_size(tmp_path):
    cache_path = tmp_path / "cache.pt"
    small = load_or_build_cache(cache_path, TrainConfig(train_scenes=2, image_size=64), "cpu")
    assert small.image_size == (64, 64) and small.features.shape[-2:] == (4, 4)
    assert load_or_build_cache(cache_path, TrainConfig(train_scenes=2, image_size=64), "cpu").image_size == (64, 64)
    larger = load_or_build_cache(cache_path, TrainConfig(train_scenes=2, image_size=96), "cpu")
    assert larger.image_size == (96, 96) and larger.features.shape[-2:] == (6, 6)


def test_training_scenes_must_fit_the_trunk_stride():
    with pytest.raises(ValueError, match="multiple of 16"):
        TrainConfig(image_size=300)
