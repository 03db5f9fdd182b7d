"""Runtime failures, bad weights files (exit 2), DEFORMVIZ_DEBUG, and the real model loader."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.real_loader
def test_real_loader_reads_an_exported_file(run, samples: Path, test_model_path: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--size", "128", "--levels", "1",
                 "--auto", "1", "-o", "x.png")
    assert result.exit_code == 0, result.output
    from deformviz.cli.runtime import load_cli_model

    model, name = load_cli_model(str(test_model_path), "cpu")
    assert name == str(test_model_path) and not model.module.training


@pytest.mark.real_loader
def test_corrupt_weights_exit_2(run, samples: Path, tmp_path: Path) -> None:
    weights = tmp_path / "corrupt.pt"
    weights.write_bytes(b"this is not a checkpoint")
    result = run("sample", samples / "chelsea.jpg", "--model", str(weights), model=False)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a checkpoint" in lines[0]


@pytest.mark.real_loader
def test_a_truncated_deformviz_export_exits_2(run, samples: Path, tmp_path: Path,
                                             test_model_path: Path) -> None:
    data = bytearray(test_model_path.read_bytes())
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data[: len(data) // 2]))
    result = run("sample", samples / "chelsea.jpg", "--model", str(damaged), model=False)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "truncated" in lines[0]


@pytest.mark.real_loader
def test_debug_shows_the_traceback(run, samples: Path, tmp_path: Path) -> None:
    weights = tmp_path / "corrupt.pt"
    weights.write_bytes(b"junk")
    result = run("sample", samples / "chelsea.jpg", "--model", str(weights), model=False,
                 env={"DEFORMVIZ_DEBUG": "1"})
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_unexpected_errors_exit_1_with_one_line(run, samples: Path, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("kernel exploded\nsecond line")

    monkeypatch.setattr("deformviz.networks.network.probe", boom)
    result = run("sample", samples / "chelsea.jpg", "--size", "128")
    assert result.exit_code == 1
    assert result.stderr == "error: unexpected RuntimeError: kernel exploded second line\n"
    assert not Path("chelsea_sample.png").exists()


def test_keyboard_interrupt_exits_130_and_writes_nothing(run, samples: Path, monkeypatch) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("deformviz.plotting.output.render_figure", interrupt)
    result = run("sample", samples / "chelsea.jpg", "--size", "128", "-o", "x.png")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert list(Path(".").iterdir()) == []
