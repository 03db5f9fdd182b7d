"""The Example sections of deformviz.probe's and the notebook path's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch
from torch import nn

MODULES = ["deformviz.probe.probe", "deformviz.probe.layer_index", "deformviz.probe.adapters",
           "deformviz.visualize.probed"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"torch": torch, "nn": nn, "np": np})
    assert result.failed == 0 and result.attempted > 0
