"""Classes are balanced and small, medium and large objects are all common."""

from __future__ import annotations

import numpy as np

from deformviz.scenes import CLASS_NAMES

# The paper's 96^2 / 224^2 area thresholds scaled by 256/600 -> 41 and 96 pixels of side.
SMALL_SIDE, LARGE_SIDE = 41.0, 96.0


def test_classes_balanced(scene_stats: dict[str, np.ndarray]) -> None:
    counts = np.bincount(scene_stats["classes"], minlength=len(CLASS_NAMES))
    mean = counts.mean()
    assert counts.min() > mean / 1.5 and counts.max() < mean * 1.5, counts


def test_scale_coverage(scene_stats: dict[str, np.ndarray]) -> None:
    sides = scene_stats["sides"]
    small = np.mean(sides < SMALL_SIDE)
    large = np.mean(sides > LARGE_SIDE)
    medium = 1.0 - small - large
    assert small > 0.2 and medium > 0.2 and large > 0.15, (small, medium, large)
    assert sides.min() >= 8 and sides.max() <= 0.95 * 256


def test_objects_per_scene_in_range() -> None:
    from deformviz.scenes import SceneGenerator

    gen = SceneGenerator(seed=2)
    counts = [gen(i).num_objects for i in range(30)]
    assert min(counts) >= 1 and max(counts) <= 7
    assert np.mean(counts) > 3
