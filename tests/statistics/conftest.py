"""Fixtures for the statistics tests: generated scenes written as an image folder with a
COCO-format annotation file (exact ground truth), and the deterministic test model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from deformviz.scenes import CLASS_NAMES, SceneConfig, SceneGenerator
from deformviz.scenes.rle import encode_mask
from deformviz.statistics.masks import encode_compressed_counts
from tests.fixtures_model import _one_thread, test_model, test_model_path  # noqa: F401

SCENE_SIDE = 128
SCENE_SEED = 1  # evaluate's held-out seed


def write_coco_scenes(folder: Path, count: int, side: int = SCENE_SIDE, seed: int = SCENE_SEED,
                      sizes: Sequence[tuple[int, int]] | None = None) -> Path:
    """Scenes 0..count-1 of `seed` as PNGs in `folder` plus `folder/instances.json`.

    Image ids are 10, 20, ... (not positions); masks alternate between uncompressed and
    compressed RLE so both decoders run. Scene i is `side` x `side` pixels, or (height, width)
    sizes[i % len(sizes)].
    """
    folder.mkdir(parents=True, exist_ok=True)
    sizes = list(sizes or [(side, side)])
    generators = {size: SceneGenerator(SceneConfig(image_size=size), seed) for size in set(sizes)}
    images, annotations = [], []
    for index in range(count):
        height, width = sizes[index % len(sizes)]
        scene = generators[(height, width)](index)
        name = f"scene_{index:03d}.png"
        Image.fromarray(scene.image).save(folder / name)
        image_id = 10 * (index + 1)
        images.append({"id": image_id, "file_name": name, "height": height, "width": width})
        for k in range(scene.num_objects):
            x1, y1, x2, y2 = (float(v) for v in scene.boxes[k])
            rle = encode_mask(scene.masks[k])
            if k % 2:
                rle = {"size": rle["size"], "counts": encode_compressed_counts(rle["counts"])}
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(scene.classes[k]) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": int(scene.masks[k].sum()), "iscrowd": 0,
                                "segmentation": rle})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASS_NAMES)]
    path = folder / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


@pytest.fixture(scope="session")
def coco_scenes(tmp_path_factory) -> Path:
    """A folder of 4 generated 128-px scenes with instances.json (do not modify)."""
    folder = tmp_path_factory.mktemp("coco_scenes")
    write_coco_scenes(folder, 4)
    return folder


#: (height, width) of the mixed-size scenes: at the tests' longer side of 128 px they become
#: inputs of 128x128, 96x128, 128x80, 64x128, 128x112, 80x128 (multiples of the stride, 16).
MIXED_SIZES = ((128, 128), (96, 128), (128, 80), (64, 128), (128, 112), (80, 128))


@pytest.fixture(scope="session")
def mixed_coco_scenes(tmp_path_factory) -> Path:
    """6 generated scenes of the MIXED_SIZES, with instances.json (do not modify)."""
    folder = tmp_path_factory.mktemp("mixed_coco_scenes")
    write_coco_scenes(folder, len(MIXED_SIZES), sizes=MIXED_SIZES)
    return folder
