"""Every class draws a sensible shape at the smallest and largest sizes."""

from __future__ import annotations

import numpy as np
import pytest

from deformviz.scenes.fonts import GLYPH_FONT_FILES, font_dir, glyph_bitmap
from deformviz.scenes.pose import sample_pose
from deformviz.scenes.raster import rasterize
from deformviz.scenes.shapes import CLASS_NAMES, canonical_shape


def test_glyph_fonts_come_from_matplotlib() -> None:
    assert "mpl-data" in str(font_dir())
    for name in GLYPH_FONT_FILES:
        assert (font_dir() / name).is_file()
    bitmap = glyph_bitmap("A")
    assert bitmap.shape == (256, 256) and bitmap.max() == 255


@pytest.mark.parametrize("class_id", range(len(CLASS_NAMES)))
@pytest.mark.parametrize("side", [12.0, 220.0])
def test_posed_shape_has_requested_box(class_id: int, side: float) -> None:
    rng = np.random.default_rng(class_id)
    shape = canonical_shape(class_id, rng)
    assert shape.coverage.dtype == np.float32 and shape.coverage.shape == (258, 258)
    assert shape.coverage.max() == 1.0 and shape.coverage.min() == 0.0
    pose = sample_pose(
        rng, shape.outline, side, (256, 256),
        max_aspect=1.6, max_angle=np.pi, warp_amplitude=0.08, max_box_fraction=0.9,
    )
    mask, (x0, y0, x1, y1) = rasterize(shape.coverage, pose, (256, 256))
    assert mask.shape == (y1 - y0, x1 - x0) and mask.any()
    ys, xs = np.nonzero(mask)
    box_side = np.sqrt((xs.max() + 1 - xs.min()) * (ys.max() + 1 - ys.min()))
    assert 0.75 * side <= box_side <= 1.25 * side + 2
