"""Fixtures for the command-line tests: the deterministic test model (exported once per test
process, tests/model_factory.py), a CliRunner, and a cache so each test does not rebuild the
network (the real loader is tested once, in test_runtime.py, with the cache off)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures_model import _one_thread, samples, test_model, test_model_path  # noqa: F401

_LOADED: dict[tuple, object] = {}


@pytest.fixture(autouse=True)
def _cached_model_loading(request, monkeypatch) -> None:
    if "real_loader" in request.keywords:
        return
    import deformviz.cli.runtime as runtime

    original = runtime.load_cli_model

    def cached(spec, device):
        key = (spec, device)
        if key not in _LOADED:
            _LOADED[key] = original(spec, device)
        return _LOADED[key]

    monkeypatch.setattr(runtime, "load_cli_model", cached)


@pytest.fixture
def run(test_model_path: Path, tmp_path: Path, monkeypatch) -> Callable:
    """run(*args, model=True) -> Result, in a fresh working folder, with --model appended."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, model: bool = True, env: dict | None = None):
        from deformviz.cli import app

        argv = [str(a) for a in args]
        if model:
            argv += ["--model", str(test_model_path)]
        return runner.invoke(app, argv, env=env)

    return invoke


@pytest.fixture(scope="module")
def detr(tmp_path_factory) -> Path:
    """A small random Deformable DETR as a Hugging Face model folder (skipped without
    transformers; tests/networks/transformers_folders.py)."""
    from tests.networks.transformers_folders import write_folder

    return write_folder(tmp_path_factory.mktemp("hf") / "detr")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 200 x 120 PNG of random pixels."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "real_loader: load the model without the test cache")
