"""Where and how an object sits in the image: scale, aspect, rotation, elastic warp.

A pose maps canonical coordinates (u, v) in [-1, 1]^2 (see :mod:`.shapes`) to image pixels:

    [x, y] = centre + R(angle) @ [u * half_width, v * half_height],
    R(a) = [[cos a, -sin a], [sin a, cos a]]

and a mild elastic warp bends the shape: the canonical point read at (u, v) is
(u + du(u, v), v + dv(u, v)), with du, dv each a sum of two random low-frequency sinusoids.
Image coordinates are continuous pixels: pixel (row r, column c) covers [c, c+1) x [r, r+1)
and has its centre at (c + 0.5, r + 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ObjectPose:
    """Placement of one object in the image.

    Attributes:
        center: (x, y) of the canonical origin, in image pixels.
        half_size: (half_width, half_height) of the canonical square along the object's own
            axes, in image pixels.
        angle: Rotation in radians; positive turns clockwise on screen (y points down).
        warp_amplitude: float [2, 2]; amplitude of term j of du (row 0) and dv (row 1), in
            canonical units (1 = half the object's size).
        warp_frequency: float [2, 2, 2]; (fu, fv) of each term, radians per canonical unit.
        warp_phase: float [2, 2]; phase of each term, radians.
    """

    center: tuple[float, float]
    half_size: tuple[float, float]
    angle: float
    warp_amplitude: np.ndarray
    warp_frequency: np.ndarray
    warp_phase: np.ndarray

    def image_extent(self) -> tuple[float, float]:
        """Half-width and half-height of the axis-aligned box around the posed square.

        Returns:
            (half box width, half box height) in image pixels, including the warp margin.
        """
        c, s = abs(math.cos(self.angle)), abs(math.sin(self.angle))
        hx, hy = self.half_size
        margin = 1.0 + float(np.abs(self.warp_amplitude).sum(axis=1).max())
        return margin * (c * hx + s * hy), margin * (s * hx + c * hy)

    def window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Integer pixel window that contains the whole object, clipped to the image.

        Args:
            height: Image height in pixels.
            width: Image width in pixels.

        Returns:
            (x0, y0, x1, y1), x1/y1 exclusive; may be empty if the object is off-image.
        """
        ex, ey = self.image_extent()
        cx, cy = self.center
        x0 = max(0, int(math.floor(cx - ex)))
        y0 = max(0, int(math.floor(cy - ey)))
        x1 = min(width, int(math.ceil(cx + ex)))
        y1 = min(height, int(math.ceil(cy + ey)))
        return x0, y0, max(x0, x1), max(y0, y1)


def sample_pose(
    rng: np.random.Generator,
    outline: np.ndarray,
    box_side: float,
    image_hw: tuple[int, int],
    *,
    max_aspect: float,
    max_angle: float,
    warp_amplitude: float,
    max_box_fraction: float,
) -> ObjectPose:
    """Draw a random pose that gives a shape a box of about ``box_side**2`` pixels.

    The shape (given by its outline) is stretched and rotated, then scaled so that the
    geometric mean of its axis-aligned box's sides equals ``box_side`` (before the small
    elastic warp), shrunk if needed so that neither box side exceeds ``max_box_fraction``
    of the image, and placed uniformly where that box lies inside the image.

    Args:
        rng: Random source.
        outline: float [P, 2] canonical (u, v) points spanning the shape's convex hull.
        box_side: Target sqrt(box area), in image pixels.
        image_hw: (height, width) of the image in pixels.
        max_aspect: Largest width/height (or height/width) stretch of the canonical frame;
            drawn log-uniformly in [1/max_aspect, max_aspect].
        max_angle: Rotation drawn uniformly in [-max_angle, max_angle], radians.
        warp_amplitude: Largest total elastic displacement, canonical units.
        max_box_fraction: Largest box side as a fraction of the image side.

    Returns:
        The pose.
    """
    height, width = image_hw
    aspect = math.exp(rng.uniform(-math.log(max_aspect), math.log(max_aspect)))
    angle = rng.uniform(-max_angle, max_angle)
    amp = rng.uniform(0.0, warp_amplitude / 2, size=(2, 2))
    freq = rng.uniform(1.5, 4.0, size=(2, 2, 2)) * rng.choice([-1.0, 1.0], size=(2, 2, 2))
    phase = rng.uniform(0.0, 2 * math.pi, size=(2, 2))

    # Box of the outline under the unit-scale pose; then scale it to the target box side.
    hx, hy = math.sqrt(aspect), 1.0 / math.sqrt(aspect)
    c, s = math.cos(angle), math.sin(angle)
    px = c * hx * outline[:, 0] - s * hy * outline[:, 1]
    py = s * hx * outline[:, 0] + c * hy * outline[:, 1]
    lo_x, hi_x, lo_y, hi_y = px.min(), px.max(), py.min(), py.max()
    box_w, box_h = hi_x - lo_x, hi_y - lo_y
    k = box_side / math.sqrt(box_w * box_h)
    k = min(k, max_box_fraction * width / box_w, max_box_fraction * height / box_h)
    # Centre so that the box [c + k*lo, c + k*hi] lies inside the image.
    cx = rng.uniform(-k * lo_x, max(-k * lo_x, width - k * hi_x))
    cy = rng.uniform(-k * lo_y, max(-k * lo_y, height - k * hi_y))
    return ObjectPose(
        center=(cx, cy),
        half_size=(k * hx, k * hy),
        angle=angle,
        warp_amplitude=amp,
        warp_frequency=freq,
        warp_phase=phase,
    )
