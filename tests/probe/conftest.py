"""Shared fixtures (the deterministic bundled test model) and the `torchvision` marker."""

from tests.fixtures_model import _one_thread, samples, test_model, test_model_path  # noqa: F401


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "torchvision: needs torchvision (the CUDA build of torch); skipped without it")
