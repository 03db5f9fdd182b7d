"""Procedural textures used as object fills and backgrounds.

Every texture function takes a random generator and an output size and returns uint8
[height, width, 3]. Patterns are in image pixels (stripe period, checker cell), so a
texture does not hint at an object's size or class.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image

from .photos import random_photo_crop

Texture = Callable[[np.random.Generator, int, int], np.ndarray]


def random_color(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour, float32 [3] in [0, 255]."""
    return rng.uniform(0.0, 255.0, size=3).astype(np.float32)


def _two_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Re-draw the second colour until it differs visibly from the first.
    a = random_color(rng)
    for _ in range(8):
        b = random_color(rng)
        if np.abs(a - b).sum() > 150:
            break
    return a, b


def _blend(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel mix a*(1-t) + b*t of two colours; t float [H, W] in [0, 1] -> uint8 [H, W, 3]."""
    out = t[..., None] * (b - a)[None, None, :]
    out += a[None, None, :]
    return out.astype(np.uint8)  # a, b in [0, 255] and t in [0, 1]: no clipping needed


def _pick(a: np.ndarray, b: np.ndarray, choose_b: np.ndarray) -> np.ndarray:
    """Two-colour pattern: b where choose_b (bool [H, W]) else a -> uint8 [H, W, 3]."""
    return np.where(choose_b[..., None], b.astype(np.uint8), a.astype(np.uint8))


def _rotated_coords(
    rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in a randomly rotated and shifted frame, float32 [H, W] each."""
    angle = rng.uniform(0, math.pi)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    x = np.arange(width, dtype=np.float32) + np.float32(rng.uniform(0, 64))
    y = np.arange(height, dtype=np.float32) + np.float32(rng.uniform(0, 64))
    return x[None, :] * c + y[:, None] * s, x[None, :] * -s + y[:, None] * c


def solid(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One flat random colour."""
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[...] = random_color(rng).astype(np.uint8)
    return out


def stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Straight two-colour stripes at a random angle, period 3-24 px."""
    a, b = _two_colors(rng)
    period = math.exp(rng.uniform(math.log(3.0), math.log(24.0)))
    duty = rng.uniform(0.3, 0.7)
    p, _ = _rotated_coords(rng, height, width)
    return _pick(a, b, (p / np.float32(period)) % 1.0 < duty)


def checker(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Rotated two-colour checkerboard, cell 3-24 px."""
    a, b = _two_colors(rng)
    cell = np.float32(math.exp(rng.uniform(math.log(3.0), math.log(24.0))))
    p, q = _rotated_coords(rng, height, width)
    parity = (np.floor(p / cell) + np.floor(q / cell)) % 2
    return _pick(a, b, parity > 0.5)


def value_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth colour noise: a coarse random colour grid, upsampled bicubically."""
    cells = int(rng.integers(2, 17))
    grid = rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
    img = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    out = np.asarray(img, dtype=np.uint8)
    if rng.random() < 0.5:  # add pixel-level grain
        grain = rng.integers(-40, 41, size=(height, width, 1), dtype=np.int16)
        out = np.clip(out.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    return out


def linear_gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two-colour linear ramp across the region at a random angle."""
    a, b = _two_colors(rng)
    p, _ = _rotated_coords(rng, height, width)
    span = max(np.float32(1.0), p.max() - p.min())
    return _blend(a, b, (p - p.min()) / span)


def radial_gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two-colour radial ramp around a random centre in the region."""
    a, b = _two_colors(rng)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    x = np.arange(width, dtype=np.float32) - np.float32(cx)
    y = np.arange(height, dtype=np.float32) - np.float32(cy)
    r = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
    return _blend(a, b, r / max(np.float32(1.0), r.max()))


#: Procedural textures, chosen uniformly by :func:`random_texture`.
PROCEDURAL_TEXTURES: tuple[Texture, ...] = (
    solid,
    stripes,
    checker,
    value_noise,
    linear_gradient,
    radial_gradient,
)


def random_texture(
    rng: np.random.Generator,
    height: int,
    width: int,
    photos: tuple[Image.Image, ...] = (),
    photo_probability: float = 0.0,
) -> np.ndarray:
    """A random procedural texture, or with ``photo_probability`` a random photo crop.

    Args:
        rng: Random source.
        height: Output height in pixels.
        width: Output width in pixels.
        photos: Photos for photo crops; empty means procedural only.
        photo_probability: Chance of a photo crop (ignored when ``photos`` is empty).

    Returns:
        uint8 array [height, width, 3].
    """
    if photos and rng.random() < photo_probability:
        return random_photo_crop(rng, photos, height, width)
    texture = PROCEDURAL_TEXTURES[int(rng.integers(len(PROCEDURAL_TEXTURES)))]
    return texture(rng, height, width)
