"""Fixtures for the explore tests: the deterministic test model and ONE headless Chromium per
test module (skipped, with the reason, where chromium/chromedriver/selenium are missing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures_model import _one_thread, samples, test_model, test_model_path  # noqa: F401

from .browser import BrowserMissing, start_browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    """A headless Chromium with a fresh profile; one per test module, quit afterwards."""
    try:
        driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    except BrowserMissing as missing:
        pytest.skip(f"browser tests need a browser: {missing}")
    try:
        yield driver
    finally:
        driver.quit()
