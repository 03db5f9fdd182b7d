"""A few steps on a tiny configuration lower the loss; checkpoints resume."""

from __future__ import annotations

import json

from deformviz.training.trainer import TrainConfig, train


def test_training_lowers_the_loss_and_resumes(tmp_path):
    config = TrainConfig(train_scenes=24, epochs=4, batch_size=8, learning_rate=3e-3)
    train(config, tmp_path / "run", resume=False)
    epochs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    total = [sum(v for k, v in e.items() if k not in ("epoch", "seconds")) for e in epochs]
    assert len(epochs) == 4
    assert total[-1] < total[0] * 0.9, total

    longer = TrainConfig(train_scenes=24, epochs=4, batch_size=8, learning_rate=3e-3)
    train(longer, tmp_path / "run", resume=True)  # already complete: nothing more to do
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 4
