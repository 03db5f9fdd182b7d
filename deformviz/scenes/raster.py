"""Draw a canonical shape's coverage through a pose into an image-space binary mask."""

from __future__ import annotations

import math

import numpy as np

from .pose import ObjectPose


def rasterize(
    coverage: np.ndarray, pose: ObjectPose, image_hw: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Binary mask of a posed shape, evaluated at every pixel centre of its window.

    Each pixel centre is mapped back into the canonical frame (inverse rotation and scale,
    then the elastic warp); the shape's coverage is interpolated bilinearly there and
    thresholded at 0.5. The edge is thus placed with sub-cell accuracy, so the mask is
    clean at any scale and no small mask is ever resampled.

    Args:
        coverage: float32 [R + 2, R + 2] padded coverage (see
            :class:`.shapes.CanonicalShape`).
        pose: Where and how the shape is drawn.
        image_hw: (height, width) of the image in pixels.

    Returns:
        ``(mask, window)``: mask is bool [y1 - y0, x1 - x0] over the image window
        ``window = (x0, y0, x1, y1)`` (image pixels, x1/y1 exclusive).
    """
    height, width = image_hw
    x0, y0, x1, y1 = pose.window(height, width)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((y1 - y0, x1 - x0), dtype=bool), (x0, y0, x1, y1)

    cx, cy = pose.center
    hx, hy = pose.half_size
    c, s = math.cos(pose.angle), math.sin(pose.angle)
    dx = np.arange(x0, x1, dtype=np.float32) + np.float32(0.5 - cx)
    dy = np.arange(y0, y1, dtype=np.float32) + np.float32(0.5 - cy)
    # Inverse rotation then scale: u along the object's x axis, v along its y axis.
    u = (dx[None, :] * np.float32(c / hx)) + (dy[:, None] * np.float32(s / hx))
    v = (dx[None, :] * np.float32(-s / hy)) + (dy[:, None] * np.float32(c / hy))
    du = _warp(u, v, pose.warp_amplitude[0], pose.warp_frequency[0], pose.warp_phase[0])
    dv = _warp(u, v, pose.warp_amplitude[1], pose.warp_frequency[1], pose.warp_phase[1])
    u += du
    v += dv
    return _sample_threshold(coverage, u, v), (x0, y0, x1, y1)


def _warp(
    u: np.ndarray, v: np.ndarray, amps: np.ndarray, freqs: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    """Elastic displacement sum_j amp_j * sin(fu_j * u + fv_j * v + phase_j), like u."""
    out = np.zeros_like(u)
    for amp, (fu, fv), phase in zip(amps, freqs, phases):
        arg = u * np.float32(fu)
        arg += v * np.float32(fv)
        arg += np.float32(phase)
        np.sin(arg, out=arg)
        arg *= np.float32(amp)
        out += arg
    return out


def _sample_threshold(coverage: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear coverage at canonical points (u, v) (float32 [h, w], overwritten) >= 0.5."""
    size = coverage.shape[0]  # R + 2
    half = np.float32((size - 2) / 2.0)
    top = np.float32(size - 1 - 1e-3)
    # Canonical -> padded-cell position p, where cell p's centre sits at p (so u = -1, the
    # left edge of inner cell 1, is p = 0.5). Clipping lands outside points on the border.
    fx, fy = u, v
    fx += np.float32(1.0)
    fx *= half
    fx += np.float32(0.5)
    fy += np.float32(1.0)
    fy *= half
    fy += np.float32(0.5)
    np.clip(fx, 0.0, top, out=fx)
    np.clip(fy, 0.0, top, out=fy)
    ix = fx.astype(np.int32)
    iy = fy.astype(np.int32)
    fx -= ix  # fractional weights
    fy -= iy
    flat = coverage.ravel()
    idx = iy * size + ix
    v00 = np.take(flat, idx)
    v01 = np.take(flat, idx + 1)
    idx += size
    v10 = np.take(flat, idx)
    v11 = np.take(flat, idx + 1)
    v01 -= v00
    v01 *= fx
    v00 += v01  # top row
    v11 -= v10
    v11 *= fx
    v10 += v11  # bottom row
    v10 -= v00
    v10 *= fy
    v00 += v10
    return v00 >= np.float32(0.5)
