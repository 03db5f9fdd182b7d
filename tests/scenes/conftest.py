"""Shared fixtures for the scene-generator tests."""

from __future__ import annotations

import numpy as np
import pytest

from deformviz.scenes import SceneGenerator

STATS_SCENES = 300


@pytest.fixture(scope="session")
def generator() -> SceneGenerator:
    return SceneGenerator(seed=7)


@pytest.fixture(scope="session")
def scene_stats(generator: SceneGenerator) -> dict[str, np.ndarray]:
    """Classes and box sides (sqrt of box area, pixels) of every object in 300 scenes."""
    classes, sides = [], []
    for i in range(STATS_SCENES):
        scene = generator(i)
        classes.append(scene.classes)
        b = scene.boxes
        sides.append(np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))
    return {"classes": np.concatenate(classes), "sides": np.concatenate(sides)}
