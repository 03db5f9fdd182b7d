"""Pytest fixtures around the deterministic test model, imported by the conftests of
tests/visualize, tests/plotting and tests/cli (one export per test process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from deformviz.models.detector import DeformableDetector

from .model_factory import load_test_model, shared_test_model_path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="session")
def test_model_path() -> Path:
    """The exported deterministic test model (what tests pass as --model)."""
    return shared_test_model_path()


@pytest.fixture(scope="session")
def test_model(test_model_path: Path) -> DeformableDetector:
    """The test model loaded as the command line loads it."""
    return load_test_model(test_model_path)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # The CI box shares 2 cores with other work; two OpenMP threads that wait on each other
    # make the trunk ~15x slower there. One thread keeps these tests short. Restored after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES
