"""The object classes and their canonical (unposed) shapes.

Every class is drawn as an antialiased coverage bitmap in a *canonical frame*: canonical
coordinates (u, v) in [-1, 1] x [-1, 1] map to the bitmap's full extent, u to the right and
v down. Shapes are centred and scaled so that their longer side spans [-1, 1]. Rotation, aspect
change, elastic distortion and placement are applied later (see :mod:`.pose` and
:mod:`.raster`). Classes differ by shape only; colour and texture come from :mod:`.textures`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from deformviz.scene_classes import CLASS_NAMES

from .fonts import GLYPH_FONT_FILES, GLYPH_RESOLUTION, glyph_bitmap


#: Letters drawn for class "letter". I, O and X are left out because they look like a
#: rectangle, an ellipse ring / the digit 0, and a rotated cross.
LETTERS = "ABCDEFGHJKLMNPQRSTUVWYZ"
#: Digits drawn for class "digit".
DIGITS = "0123456789"

#: Side of a canonical shape bitmap, in bitmap pixels.
SHAPE_RESOLUTION = GLYPH_RESOLUTION

#: Classes that keep a limited rotation range so they stay readable (glyphs).
UPRIGHT_CLASSES: frozenset[int] = frozenset(
    {CLASS_NAMES.index("letter"), CLASS_NAMES.index("digit")}
)


#: Supersampling factor per axis when polygons are drawn, for antialiased coverage.
_SUPERSAMPLE = 4


@dataclass(frozen=True, eq=False)
class CanonicalShape:
    """One class instance in the canonical frame.

    Attributes:
        coverage: float32 [R + 2, R + 2] with R = SHAPE_RESOLUTION: the fraction of each
            cell inside the shape, in [0, 1]. Cell (row i, column j) of the inner R x R
            block covers u in [-1 + 2j/R, -1 + 2(j+1)/R] (v likewise, by row); the
            one-cell border is all zero (outside the canonical square).
        outline: float [P, 2] of (u, v) points whose convex hull is the shape's convex
            hull, used to size an object by its true bounding box.
    """

    coverage: np.ndarray
    outline: np.ndarray


def _shape(coverage: np.ndarray, outline: np.ndarray | None = None) -> CanonicalShape:
    """Pad an [R, R] coverage with a zero border, derive the outline if not given."""
    res = coverage.shape[0]
    padded = np.zeros((res + 2, res + 2), dtype=np.float32)
    padded[1:-1, 1:-1] = coverage
    if outline is None:
        outline = _coverage_outline(coverage >= 0.5)
    padded.setflags(write=False)
    outline = np.asarray(outline, dtype=np.float64)
    outline.setflags(write=False)
    return CanonicalShape(padded, outline)


def _coverage_outline(inside: np.ndarray) -> np.ndarray:
    """Corners of the leftmost and rightmost cell of every row: contains the convex hull."""
    res = inside.shape[0]
    rows = np.flatnonzero(inside.any(axis=1))
    left = inside[rows].argmax(axis=1)
    right = res - 1 - inside[rows, ::-1].argmax(axis=1)
    cells = np.concatenate([
        np.stack([left, rows], 1), np.stack([left, rows + 1], 1),
        np.stack([right + 1, rows], 1), np.stack([right + 1, rows + 1], 1),
    ])
    return cells.astype(np.float64) * (2.0 / res) - 1.0


def _fit_to_frame(points: np.ndarray) -> np.ndarray:
    """Centre a polygon's bounding box and scale its longer side to span [-1, 1].

    Args:
        points: float array [P, 2] of (u, v) vertices, any scale.

    Returns:
        float array [P, 2] in canonical coordinates.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (points - (lo + hi) / 2) * (2.0 / float((hi - lo).max()))


def _draw_polygon(points: np.ndarray) -> CanonicalShape:
    """Rasterise a canonical polygon [P, 2] with 4 x 4 supersampling."""
    big = SHAPE_RESOLUTION * _SUPERSAMPLE
    pixel = (points + 1.0) * (big / 2.0)
    img = Image.new("L", (big, big), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in pixel.tolist()], fill=255)
    coverage = np.asarray(img.reduce(_SUPERSAMPLE), dtype=np.float32) * np.float32(1 / 255)
    return _shape(coverage, points)


def _triangle_points(rng: np.random.Generator) -> np.ndarray:
    # Vertex angles 120 deg apart, each jittered by up to 25 deg: no needle-thin triangles.
    angles = rng.uniform(0, 2 * math.pi) + np.arange(3) * (2 * math.pi / 3)
    angles = angles + rng.uniform(-0.44, 0.44, size=3)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star_points(rng: np.random.Generator) -> np.ndarray:
    tips = int(rng.integers(5, 8))  # 5, 6 or 7 points
    inner = rng.uniform(0.38, 0.55)
    angles = -math.pi / 2 + np.arange(2 * tips) * (math.pi / tips)
    radii = np.where(np.arange(2 * tips) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross_points(rng: np.random.Generator) -> np.ndarray:
    t = rng.uniform(0.2, 0.36)  # half-width of each arm
    return np.array(
        [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t),
         (t, 1), (-t, 1), (-t, t), (-1, t), (-1, -t), (-t, -t)],
        dtype=np.float64,
    )


@functools.lru_cache(maxsize=1)
def _ellipse() -> CanonicalShape:
    res = SHAPE_RESOLUTION
    c = (np.arange(res, dtype=np.float32) + 0.5) * np.float32(2.0 / res) - 1.0
    radius = np.sqrt(c[None, :] ** 2 + c[:, None] ** 2)
    # Coverage from the signed distance to the unit circle, in cells.
    coverage = np.clip(0.5 + (1.0 - radius) * (res / 2.0), 0.0, 1.0)
    t = np.linspace(0.0, 2 * math.pi, 128, endpoint=False)
    return _shape(coverage, np.stack([np.cos(t), np.sin(t)], axis=1))


@functools.lru_cache(maxsize=1)
def _rectangle() -> CanonicalShape:
    res = SHAPE_RESOLUTION
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=np.float64)
    return _shape(np.ones((res, res), dtype=np.float32), corners)


@functools.lru_cache(maxsize=512)
def _glyph(char: str, font_index: int) -> CanonicalShape:
    return _shape(glyph_bitmap(char, font_index).astype(np.float32) * np.float32(1 / 255))


def canonical_shape(class_id: int, rng: np.random.Generator) -> CanonicalShape:
    """Draw one random instance of a class in the canonical frame.

    Args:
        class_id: Index into :data:`CLASS_NAMES`.
        rng: Source of the instance's variation (triangle vertices, star tips, cross arm
            width, which glyph and font).

    Returns:
        The shape. Treat its arrays as read-only (cached shapes are shared).
    """
    name = CLASS_NAMES[class_id]
    if name == "ellipse":
        return _ellipse()
    if name == "rectangle":
        return _rectangle()
    if name == "triangle":
        return _draw_polygon(_fit_to_frame(_triangle_points(rng)))
    if name == "star":
        return _draw_polygon(_fit_to_frame(_star_points(rng)))
    if name == "cross":
        return _draw_polygon(_cross_points(rng))
    if name in ("letter", "digit"):
        chars = LETTERS if name == "letter" else DIGITS
        char = chars[int(rng.integers(len(chars)))]
        return _glyph(char, int(rng.integers(len(GLYPH_FONT_FILES))))
    raise ValueError(f"unknown class id {class_id}")
