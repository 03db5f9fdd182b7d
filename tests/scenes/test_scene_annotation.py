"""JSON ground truth and RLE round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from deformviz.scenes import CLASS_NAMES, load_scene, save_scene, scene_from_json, scene_to_json
from deformviz.scenes.rle import decode_mask, encode_mask


@pytest.mark.parametrize("fill", ["zeros", "ones", "corner", "random"])
def test_rle_round_trip(fill: str) -> None:
    rng = np.random.default_rng(0)
    mask = {
        "zeros": np.zeros((7, 5), dtype=bool),
        "ones": np.ones((7, 5), dtype=bool),
        "corner": np.eye(7, 5, dtype=bool),
        "random": rng.random((31, 17)) < 0.4,
    }[fill]
    rle = encode_mask(mask)
    assert rle["size"] == list(mask.shape)
    assert sum(rle["counts"]) == mask.size
    assert np.array_equal(decode_mask(json.loads(json.dumps(rle))), mask)


def test_rle_is_coco_column_major() -> None:
    mask = np.array([[0, 1], [0, 1]], dtype=bool)  # column-major: 0 0 1 1
    assert encode_mask(mask)["counts"] == [2, 2]
    assert encode_mask(mask.T)["counts"] == [1, 1, 1, 1]


def test_save_and_load_round_trip(generator, tmp_path) -> None:
    scene = generator(4)
    png, js = save_scene(scene, tmp_path, "scene_004")
    data = json.loads(js.read_text())
    assert data["image"] == "scene_004.png" and data["class_names"] == list(CLASS_NAMES)
    assert data["image_size"] == {"height": 256, "width": 256}
    assert (data["seed"], data["index"]) == (scene.seed, scene.index)
    assert len(data["objects"]) == scene.num_objects
    back = load_scene(js)
    assert np.array_equal(np.asarray(Image.open(png)), scene.image)
    for a, b in ((back.image, scene.image), (back.masks, scene.masks),
                 (back.boxes, scene.boxes), (back.classes, scene.classes)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert (back.seed, back.index) == (scene.seed, scene.index)


def test_json_without_masks(generator) -> None:
    scene = generator(5)
    data = scene_to_json(scene, include_masks=False)
    assert data["mask_format"] is None
    assert all("mask" not in o for o in data["objects"])
    assert [o["box"] for o in data["objects"]] == scene.boxes.tolist()
    with pytest.raises(ValueError):
        scene_from_json(data, scene.image)
