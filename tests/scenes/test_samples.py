"""The bundled photos and example scenes in ``samples/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deformviz.scenes import load_scene, tight_boxes
from deformviz.scenes.photos import PHOTO_FILES, default_photo_dir, load_photos

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_photos_are_small_credited_jpegs() -> None:
    assert default_photo_dir() == SAMPLES
    credits = (SAMPLES / "CREDITS.md").read_text(encoding="utf-8")
    for name in PHOTO_FILES:
        path = SAMPLES / name
        assert path.stat().st_size < 200_000
        assert name in credits
    photos = load_photos(str(SAMPLES))
    assert len(photos) == len(PHOTO_FILES) and all(p.mode == "RGB" for p in photos)


@pytest.mark.parametrize("index", range(3))
def test_sample_scenes_load_and_are_consistent(index: int) -> None:
    scene = load_scene(SAMPLES / f"scene_{index:03d}.json")
    assert scene.image.shape == (256, 256, 3) and scene.num_objects >= 1
    assert np.array_equal(tight_boxes(scene.masks), scene.boxes)
    assert scene.masks.sum(axis=0).max() <= 1
