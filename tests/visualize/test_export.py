"""`save_data` checked against the Python API's result object itself (not against the figure,
which reads the same result): every unit, point, parent, flag, weight and bin, in JSON and NPZ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deformviz.visualize import roi_bins, sample_locations, save_data
from deformviz.visualize.results import RoIResult, SamplingResult


def assert_sampling_json_is(data: dict, result: SamplingResult) -> None:
    """The JSON document of a sampling result holds exactly `result`'s values."""
    assert data["kind"] == "sampling_locations" and data["mode"] == result.mode
    assert data["levels"] == result.levels and data["layers"] == list(result.layer_names)
    assert [layer["name"] for layer in data["chain"]] == [layer.name for layer in result.layers]
    height, width = result.image.size
    assert (data["image"]["width"], data["image"]["height"]) == (width, height)
    assert len(data["units"]) == len(result.samplings)
    for entry, sampling in zip(data["units"], result.samplings):
        assert tuple(entry["cell"]) == tuple(sampling.unit.cell)
        assert entry["pixel"] == pytest.approx(list(sampling.unit.pixel))
        assert entry["role"] == sampling.unit.role
        assert entry["effective_dilation"] == pytest.approx(sampling.effective_dilation)
        assert len(entry["levels"]) == sampling.levels
        for level, saved in enumerate(entry["levels"]):
            assert saved["layer"] == result.layer_names[-(level + 1)]
            np.testing.assert_array_equal(saved["points"], sampling.points[level])
            np.testing.assert_array_equal(saved["parents"], sampling.parents[level])
            np.testing.assert_array_equal(saved["active"], sampling.active[level])
            np.testing.assert_array_equal(saved["weights"], sampling.weights[level])


def assert_sampling_npz_is(arrays, result: SamplingResult) -> None:
    meta = json.loads(str(arrays["meta"]))
    assert meta["levels"] == result.levels and len(meta["units"]) == len(result.samplings)
    for index, sampling in enumerate(result.samplings):
        assert tuple(meta["units"][index]["cell"]) == tuple(sampling.unit.cell)
        for level in range(sampling.levels):
            prefix = f"unit{index}_level{level + 1}"
            np.testing.assert_array_equal(arrays[f"{prefix}_points"], sampling.points[level])
            np.testing.assert_array_equal(arrays[f"{prefix}_parents"], sampling.parents[level])
            np.testing.assert_array_equal(arrays[f"{prefix}_active"], sampling.active[level])
            np.testing.assert_array_equal(arrays[f"{prefix}_weights"], sampling.weights[level])
    expected = {f"unit{i}_level{l + 1}_{name}" for i, s in enumerate(result.samplings)
                for l in range(s.levels) for name in ("points", "parents", "active", "weights")}
    assert set(arrays.files) == expected | {"meta"}


def assert_roi_json_is(data: dict, result: RoIResult) -> None:
    assert data["kind"] == "roi_bins" and data["output_size"] == list(result.output_size)
    assert data["gamma"] == pytest.approx(result.gamma)
    assert len(data["boxes"]) == len(result.boxes)
    for entry, box in zip(data["boxes"], result.boxes):
        assert entry["box"] == pytest.approx(list(box.box))
        assert (entry["label"], entry["source"]) == (box.label, box.source)
        assert entry["score"] == pytest.approx(box.score)
        np.testing.assert_array_equal(entry["regular_bins"], box.regular)
        np.testing.assert_array_equal(entry["deformed_bins"], box.deformed)


def assert_roi_npz_is(arrays, result: RoIResult) -> None:
    np.testing.assert_array_equal(arrays["boxes"], [b.box for b in result.boxes])
    np.testing.assert_array_equal(arrays["scores"], [b.score for b in result.boxes])
    np.testing.assert_array_equal(arrays["regular_bins"], [b.regular for b in result.boxes])
    np.testing.assert_array_equal(arrays["deformed_bins"], [b.deformed for b in result.boxes])
    meta = json.loads(str(arrays["meta"]))
    assert [b["label"] for b in meta["boxes"]] == [b.label for b in result.boxes]


@pytest.fixture(scope="module")
def sampling(test_model, samples: Path) -> SamplingResult:
    return sample_locations(test_model, samples / "chelsea.jpg", at=[(60, 240), (333, 47)],
                            levels=3, long_side=256)


@pytest.fixture(scope="module")
def rois(test_model, samples: Path) -> RoIResult:
    return roi_bins(test_model, samples / "coffee.jpg", [[150, 20, 430, 300], [10, 10, 90, 80]],
                    long_side=256)


def test_sampling_json_and_npz_hold_the_results_values(sampling, tmp_path: Path) -> None:
    assert_sampling_json_is(json.loads(save_data(sampling, tmp_path / "s.json").read_text()),
                            sampling)
    assert_sampling_npz_is(np.load(save_data(sampling, tmp_path / "s.npz")), sampling)


def test_roi_json_and_npz_hold_the_results_values(rois, tmp_path: Path) -> None:
    assert_roi_json_is(json.loads(save_data(rois, tmp_path / "r.json").read_text()), rois)
    assert_roi_npz_is(np.load(save_data(rois, tmp_path / "r.npz")), rois)
