"""The Example sections of deformviz.geometry's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

import deformviz.geometry as geometry

MODULES = ["layers", "interpolation", "sampling_locations", "roi_bins", "effective_dilation",
           "map_grid", "chain"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"deformviz.geometry.{name}")
    names = {public: getattr(geometry, public) for public in geometry.__all__}
    result = doctest.testmod(module, extraglobs={"torch": torch, **names})
    assert result.failed == 0
