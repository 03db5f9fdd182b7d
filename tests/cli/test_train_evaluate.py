"""`deformviz train` and `deformviz evaluate` on tiny configurations."""

from __future__ import annotations

import inspect
import json

from typer.testing import CliRunner

from deformviz.cli import app
from deformviz.cli.commands import train as train_command
from deformviz.training.trainer import TrainConfig


def test_train_exports_weights_that_evaluate_reads(tmp_path):
    runner = CliRunner()
    weights = tmp_path / "tiny.pt"
    result = runner.invoke(app, ["train", str(tmp_path / "run"), "--epochs", "1", "--scenes", "8",
                                 "--image-size", "128", "--device", "cpu", "--export", str(weights)])
    assert result.exit_code == 0, result.output
    assert "sha256" in result.output and weights.is_file()
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, ["evaluate", "--model", str(weights), "--twin", str(weights),
                                 "--scenes", "2", "--json", str(report_path), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "Effective dilation" in result.output
    report = json.loads(report_path.read_text())
    assert {"detection", "effective_dilation", "roi", "models", "config"} <= set(report)
    assert report["config"]["image_size"] == 128  # the held-out scenes match the training size


def test_train_rejects_an_image_size_off_the_trunk_stride(tmp_path):
    result = CliRunner().invoke(app, ["train", str(tmp_path / "run"), "--image-size", "100"])
    assert result.exit_code == 2
    assert "multiple of 16" in result.output
    assert not (tmp_path / "run").exists()


def test_train_defaults_are_the_training_configuration():
    # The command line repeats TrainConfig's defaults (it must not import torch for --help).
    parameters = inspect.signature(train_command.command).parameters
    defaults = TrainConfig()
    for option, field in (("epochs", "epochs"), ("scenes", "train_scenes"), ("seed", "seed"),
                          ("image_size", "image_size"), ("offset_lr_scale", "offset_lr_scale")):
        assert parameters[option].default == getattr(defaults, field), option


def test_evaluate_rejects_an_unknown_twin(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", "--model", "nope.pt", "--scenes", "1"])
    assert result.exit_code == 2
    assert "nope.pt" in result.output
