"""Masks, boxes and classes of generated scenes are consistent with each other."""

from __future__ import annotations

import numpy as np
import pytest

from deformviz.scenes import CLASS_NAMES, SceneGenerator, tight_boxes
from deformviz.scenes.canvas import SceneCanvas


@pytest.mark.parametrize("index", range(20))
def test_scene_arrays_and_boxes(generator: SceneGenerator, index: int) -> None:
    scene = generator(index)
    n = scene.num_objects
    assert scene.image.dtype == np.uint8 and scene.image.shape == (256, 256, 3)
    assert scene.masks.dtype == bool and scene.masks.shape == (n, 256, 256)
    assert scene.boxes.dtype == np.float32 and scene.boxes.shape == (n, 4)
    assert scene.classes.dtype == np.int64 and scene.classes.shape == (n,)
    assert n >= 1
    assert np.all((scene.classes >= 0) & (scene.classes < len(CLASS_NAMES)))
    # Box == tight box of the visible mask, x2/y2 exclusive.
    for mask, box in zip(scene.masks, scene.boxes):
        ys, xs = np.nonzero(mask)
        assert ys.size > 0
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    # Visible masks: no pixel claimed by two objects.
    assert scene.masks.sum(axis=0).max(initial=0) <= 1


def test_tight_boxes_exclusive_end() -> None:
    masks = np.zeros((1, 5, 6), dtype=bool)
    masks[0, 2, 3] = True
    assert tight_boxes(masks).tolist() == [[3.0, 2.0, 4.0, 3.0]]


def test_canvas_refuses_heavy_occlusion_and_tracks_visibility() -> None:
    canvas = SceneCanvas(np.zeros((10, 10, 3), dtype=np.uint8))
    full = np.ones((10, 10), dtype=bool)
    red = np.full((10, 10, 3), 200, dtype=np.uint8)
    canvas.paint(full[:, :5], (0, 0, 5, 10), red[:, :5])  # object 0: left half, 50 px
    cover = np.ones((10, 4), dtype=bool)  # would hide 40 of 50 px (20 % left)
    assert not canvas.keeps_visible(cover, (0, 0, 4, 10), 0.3)
    cover = np.ones((10, 3), dtype=bool)  # hides 30 of 50 px (40 % left)
    assert canvas.keeps_visible(cover, (0, 0, 3, 10), 0.3)
    canvas.paint(cover, (0, 0, 3, 10), red[:, :3])
    assert canvas.visible == [20, 30]
    masks = canvas.visible_masks()
    assert masks[0].sum() == 20 and masks[1].sum() == 30 and not (masks[0] & masks[1]).any()



def test_every_object_keeps_thirty_percent_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    import deformviz.scenes.generator as generator_module

    ratios: list[float] = []

    class RecordingCanvas(SceneCanvas):
        def visible_masks(self) -> np.ndarray:
            masks = super().visible_masks()
            for mask, area in zip(masks, self.areas):
                ratios.append(mask.sum() / area)
            return masks

    monkeypatch.setattr(generator_module, "SceneCanvas", RecordingCanvas)
    gen = SceneGenerator(seed=13)
    for i in range(40):
        gen(i)
    assert ratios and min(ratios) >= 0.3
    assert min(ratios) < 0.9  # occlusion does happen
