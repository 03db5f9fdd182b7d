"""Shared fixtures: the deterministic test model (see tests/model_factory.py)."""

from tests.fixtures_model import _one_thread, samples, test_model, test_model_path  # noqa: F401
