"""`--save-data` through the command line holds what the Python API returns for the same
image and options (compared with the API's result directly, not with the figure)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deformviz.visualize import roi_bins, sample_locations
from tests.visualize.test_export import (assert_roi_json_is, assert_roi_npz_is,
                                         assert_sampling_json_is, assert_sampling_npz_is)


@pytest.mark.parametrize("suffix", ["json", "npz"])
def test_sample_save_data_is_the_api_result(run, test_model, samples: Path, suffix) -> None:
    result = run("sample", samples / "chelsea.jpg", "--at", "60", "240", "--at", "333", "47",
                 "--levels", "3", "--size", "256", "--dpi", "40", "-o", "f.png",
                 "--save-data", f"d.{suffix}")
    assert result.exit_code == 0, result.output
    expected = sample_locations(test_model, samples / "chelsea.jpg", at=[(60, 240), (333, 47)],
                                levels=3, long_side=256)
    if suffix == "json":
        assert_sampling_json_is(json.loads(Path("d.json").read_text()), expected)
    else:
        assert_sampling_npz_is(np.load("d.npz"), expected)


@pytest.mark.parametrize("suffix", ["json", "npz"])
def test_roi_save_data_is_the_api_result(run, test_model, samples: Path, suffix) -> None:
    result = run("roi", samples / "coffee.jpg", "--box", "150", "20", "430", "300", "--box",
                 "10", "10", "90", "80", "--size", "256", "--dpi", "40", "-o", "f.png",
                 "--save-data", f"d.{suffix}")
    assert result.exit_code == 0, result.output
    expected = roi_bins(test_model, samples / "coffee.jpg",
                        [[150, 20, 430, 300], [10, 10, 90, 80]], long_side=256)
    if suffix == "json":
        assert_roi_json_is(json.loads(Path("d.json").read_text()), expected)
    else:
        assert_roi_npz_is(np.load("d.npz"), expected)
