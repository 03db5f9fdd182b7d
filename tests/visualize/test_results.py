"""sample_locations / roi_bins in original pixels; units; boxes; saved data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deformviz.capture import capture_dense
from deformviz.errors import BoxError, InputError, OutputError, UnitError
from deformviz.geometry import trace_sampling_locations
from deformviz.imaging import load_image, prepare_for_model
from deformviz.visualize import (check_boxes, read_boxes_file, roi_bins, sample_locations,
                                 save_data)


def test_points_map_to_original_pixels(test_model, samples: Path) -> None:
    path = samples / "chelsea.jpg"
    result = sample_locations(test_model, path, at=[(225, 150)], levels=2, long_side=256)
    (sampling,) = result.samplings
    image = prepare_for_model(load_image(path), 256)
    capture = capture_dense(test_model, image.tensor)
    traced = trace_sampling_locations(capture.layers, [o.double() for o in capture.offsets],
                                      sampling.unit.cell, levels=2)
    ry, rx = image.resize
    for level in range(2):
        cells = traced.points[level]  # (y, x) cells
        expected_x = (cells[:, 1] * 16 + 15 + 0.5) * rx - 0.5
        expected_y = (cells[:, 0] * 16 + 15 + 0.5) * ry - 0.5
        np.testing.assert_allclose(sampling.points[level][:, 0], expected_x.numpy(), atol=1e-4)
        np.testing.assert_allclose(sampling.points[level][:, 1], expected_y.numpy(), atol=1e-4)
    # The unit is the cell whose centre is nearest the requested pixel.
    ux, uy = sampling.unit.pixel
    assert abs(ux - 225) <= 16 * rx / 2 + 1e-6 and abs(uy - 150) <= 16 * ry / 2 + 1e-6


def test_auto_picks_the_paper_triplet(test_model, samples: Path) -> None:
    result = sample_locations(test_model, samples / "chelsea.jpg", auto=3, long_side=256)
    roles = [s.unit.role for s in result.samplings]
    assert roles == ["background", "small object", "large object"]
    small, large = result.samplings[1].unit.detection, result.samplings[2].unit.detection
    assert small.area <= large.area
    assert len({s.unit.cell for s in result.samplings}) == 3


def test_grid_mode(test_model, samples: Path) -> None:
    result = sample_locations(test_model, samples / "chelsea.jpg", grid_step=4, levels=1,
                              long_side=256)
    assert result.mode == "grid" and len(result.samplings) == 3 * 4
    assert all(s.points[0].shape == (9, 2) for s in result.samplings)


def test_units_outside_the_image_are_refused(test_model, samples: Path) -> None:
    with pytest.raises(UnitError, match="outside the image"):
        sample_locations(test_model, samples / "chelsea.jpg", at=[(451, 10)])
    with pytest.raises(InputError, match="levels"):
        sample_locations(test_model, samples / "chelsea.jpg", levels=4)


def test_roi_bins_tile_the_box_and_move_by_the_offsets(test_model, samples: Path) -> None:
    box = [40.0, 60.0, 300.0, 280.0]
    result = roi_bins(test_model, samples / "chelsea.jpg", [box], long_side=256)
    (bins,) = result.boxes
    np.testing.assert_allclose(bins.regular[0, 0, :2], box[:2], atol=1e-9)
    np.testing.assert_allclose(bins.regular[-1, -1, 2:], box[2:], atol=1e-9)
    np.testing.assert_allclose(bins.regular[0, 1, 0], 40 + 260 / 3, atol=1e-9)
    shift = bins.deformed - bins.regular
    assert np.abs(shift).max() > 1  # the test model's RoI offsets are not zero
    np.testing.assert_allclose(shift[..., 0], shift[..., 2], atol=1e-9)  # bins keep their size
    assert bins.label in (*test_model.class_names, "background") and 0 < bins.score <= 1


def test_roi_bins_without_boxes_use_detections(test_model, samples: Path) -> None:
    result = roi_bins(test_model, samples / "chelsea.jpg", max_boxes=3, long_side=256)
    assert 1 <= len(result.boxes) <= 3 and all(b.source == "detection" for b in result.boxes)


@pytest.mark.parametrize("box,message", [
    ([10, 10, 5, 50], "inverted"), ([10, 10, 10, 50], "zero area"),
    ([10, 10, 500, 50], "outside the image"), ([-1, 0, 5, 5], "outside the image"),
    ([1, 2, 3], "4 numbers"), ([1, "x", 3, 4], "not a number"),
    ([1, float("nan"), 3, 4], "finite"),
])
def test_check_boxes(box, message) -> None:
    with pytest.raises(BoxError, match=message):
        check_boxes([box], (300, 451))


def test_check_boxes_accepts_arrays() -> None:
    boxes = check_boxes(np.array([[1.0, 2.0, 30.0, 40.0]]), (300, 451))
    np.testing.assert_array_equal(boxes, [[1, 2, 30, 40]])


def test_read_boxes_file_formats(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text("[[1, 2, 3, 4]]")
    nested = tmp_path / "nested.json"
    nested.write_text('{"boxes": [{"box": [1, 2, 3, 4], "label": "cat"}]}')
    assert read_boxes_file(plain) == read_boxes_file(nested) == [[1, 2, 3, 4]]
    broken = tmp_path / "broken.json"
    broken.write_text("[[1, 2")
    with pytest.raises(InputError, match="not valid JSON"):
        read_boxes_file(broken)


def test_save_data_json_and_npz(test_model, samples: Path, tmp_path: Path) -> None:
    result = sample_locations(test_model, samples / "chelsea.jpg", at=[(100, 100)], levels=3,
                              long_side=256, model_name="test")
    data = json.loads(save_data(result, tmp_path / "points.json").read_text())
    assert data["model"] == "test" and data["image"]["width"] == 451
    unit = data["units"][0]
    assert [len(level["points"]) for level in unit["levels"]] == [9, 81, 729]
    np.testing.assert_array_equal(np.array(unit["levels"][2]["points"]),
                                  result.samplings[0].points[2])
    arrays = np.load(save_data(result, tmp_path / "points.npz"))
    assert arrays["unit0_level3_points"].shape == (729, 2)
    assert json.loads(str(arrays["meta"]))["levels"] == 3
    with pytest.raises(OutputError, match="unknown data format"):
        save_data(result, tmp_path / "points.csv")
    rois = roi_bins(test_model, samples / "chelsea.jpg", [[1, 2, 100, 200]], long_side=256)
    saved = json.loads(save_data(rois, tmp_path / "rois.json").read_text())
    assert np.array(saved["boxes"][0]["deformed_bins"]).shape == (3, 3, 4)
    assert read_boxes_file(tmp_path / "rois.json") == [[1.0, 2.0, 100.0, 200.0]]  # round trip


def test_clip_boxes_cuts_boxes_crossing_the_border_and_refuses_boxes_outside() -> None:
    from deformviz.visualize import clip_boxes

    clipped, changed = clip_boxes([[10, 10, 50, 50], [-3, 280, 40, 305]], (300, 451))
    np.testing.assert_array_equal(clipped, [[10, 10, 50, 50], [0, 280, 40, 300]])
    assert changed == [2]
    with pytest.raises(BoxError, match="no part of it is left"):
        clip_boxes([[460, 10, 500, 50]], (300, 451))
    with pytest.raises(BoxError, match="outside the image"):
        check_boxes([[-3, 280, 40, 305]], (300, 451))
    np.testing.assert_array_equal(check_boxes([[-3, 280, 40, 305]], (300, 451), clip=True),
                                  [[0, 280, 40, 300]])
