"""The errors deformviz raises for things a user can fix, kept free of heavy imports.

The command line maps these to one line on stderr and an exit code (see
`deformviz.cli.errors`): `InputError` and its subclasses are bad input (exit 2), anything else
is a runtime failure (exit 1). Python callers catch them like any ValueError / OSError.
`finite_number` is the one check of a user's number (from an option or a JSON file).
"""

from __future__ import annotations

import math

__all__ = [
    "finite_number",
    "DeformvizError",
    "InputError",
    "ImageLoadError",
    "BoxError",
    "UnitError",
    "OutputError",
    "DeviceError",
    "CheckpointError",
]


class DeformvizError(Exception):
    """Base of deformviz's own errors; the message is one line, meant for the user."""


class InputError(DeformvizError, ValueError):
    """Something the user gave is unusable (file, number, option); fixing the input fixes it."""


class ImageLoadError(InputError):
    """An image file is missing, unreadable, truncated, not an image, too large or in a mode
    that cannot be converted to RGB."""


class BoxError(InputError):
    """A box is not four finite numbers, is inverted or empty, or lies outside the image."""


class UnitError(InputError):
    """An activation unit (a pixel position) lies outside the image."""


class OutputError(InputError):
    """An output path cannot be written, or names a format deformviz does not write."""


class DeviceError(InputError):
    """The requested device is not available (for example `cuda` without CUDA)."""


class CheckpointError(InputError):
    """A network file is missing, not a checkpoint, truncated, unsafe to load, holds no
    deformable layers, or has a layout deformviz does not know (the message names a key)."""


def finite_number(value: object, where: str, error: type[InputError] = InputError) -> float:
    """`value` (a number, or a string that spells one) as a finite float, else `error` naming
    `where` (one line). Booleans are refused although Python counts them as numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise error(f"{where}: {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise error(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise error(f"{where}: {value!r} is not a finite number")
    return number
