"""Every example in a docstring of the public API runs: the package overview, the Python API
behind the command line and the plotting (with the deterministic test model in place of the
bundled one, in a scratch folder holding the samples)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from tests.fixtures_model import _one_thread, samples, test_model, test_model_path  # noqa: F401

MODULES = ["deformviz", "deformviz.visualize", "deformviz.plotting.sampling",
           "deformviz.plotting.rois", "deformviz.plotting.size", "deformviz.visualize.rois",
           "deformviz.ops.dcnv3", "deformviz.ops.dcnv4_layout",
           "deformviz.plotting.attention", "deformviz.visualize.attention_export",
           "deformviz.geometry.attention_locations", "deformviz.visualize.attention",
           "deformviz.statistics.padded_batch", "deformviz.explore.description",
           "deformviz.explore.attention_build"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, test_model, samples: Path, tmp_path: Path,
                                monkeypatch) -> None:
    import deformviz.models.registry as registry

    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples").symlink_to(samples)
    monkeypatch.setattr(registry, "load_model", lambda *args, **kwargs: test_model)
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    examples = [t for t in tests if t.examples]
    assert examples, f"{name} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in examples:
        test.globs.update(model=test_model)
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} failing example(s) in {name}"
    skipped = [e.source for t in examples for e in t.examples
               if e.options.get(doctest.SKIP)]
    assert not skipped, f"skipped examples in {name}: {skipped}"
