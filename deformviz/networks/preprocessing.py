"""What a loaded network expects of an image: size, channel order, normalisation, padding.

`Preprocessing.prepare` does what mmdetection's and detectron2's test pipelines do: resize so
the shorter side is `short_side` unless the longer would exceed `max_long_side` (aspect ratio
kept), normalise per channel in the network's channel order, zero-pad bottom and right to a
multiple of `size_divisor`. It returns a `deformviz.imaging.ModelInput`, whose exact per-axis
resize maps every result back to the ORIGINAL image's pixels (padding adds nothing at the
top or left, so it does not move anything).
"""

from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass

import numpy as np

from deformviz.errors import InputError
from deformviz.imaging import STRIDE, ImageResize, LoadedImage, ModelInput, prepare_for_model

__all__ = ["Preprocessing", "LongSideResize", "NetworkInput", "MMDETECTION_PYTORCH", "CAFFE_BGR",
           "IMAGENET_RGB", "resized_size", "preprocessing_dict"]

#: Deprecated (one release): `deformviz.imaging.ModelInput`, what every preparation returns.
NetworkInput = ModelInput


def resized_size(size: tuple[int, int], short_side: int | None,
                 max_long_side: int | None) -> tuple[int, int]:
    """(h, w) for an (H, W) image under `ImageResize.shorter_side_to` (kept for one release;
    the resize object is the one way)."""
    return ImageResize.shorter_side_to(size, short_side, max_long_side).resized_size  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocessing:
    """How to turn an image into a network's input.

    Attributes:
        channel_order: "RGB" or "BGR", the order the network's first conv expects.
        mean, std: per channel, in 0..255 pixel units, in `channel_order`.
        short_side: resize so the shorter side is this many pixels (None: no resize) ...
        max_long_side: ... unless the longer side would exceed this (None: no limit).
        size_divisor: zero-pad bottom and right (after normalising) to a multiple of this.

    Example:
        >>> pre = Preprocessing("BGR", (103.53, 116.28, 123.675), (1.0, 1.0, 1.0))
        >>> image = LoadedImage(np.zeros((480, 640, 3), np.uint8), "black")
        >>> prepared = pre.prepare(image)
        >>> prepared.resized_size, prepared.padded_size
        ((800, 1067), (800, 1088))
    """

    channel_order: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    short_side: int | None = 800
    max_long_side: int | None = 1333
    size_divisor: int = 32

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR"):
            raise InputError(f"channel order must be RGB or BGR, got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise InputError("mean and std need one value per channel")
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)) or min(self.std) <= 0:
            raise InputError(f"mean must be finite and std positive, got {self.mean}, {self.std}")
        for name in ("short_side", "max_long_side"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 16 <= value <= 8192):
                raise InputError(f"{name.replace('_', ' ')} must be a whole number of pixels "
                                 f"in 16..8192, got {value!r}")
        if not (isinstance(self.size_divisor, int) and 1 <= self.size_divisor <= 256):
            raise InputError(f"size divisor must be in 1..256, got {self.size_divisor!r}")

    def describe(self) -> str:
        """One line, e.g. "RGB, mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375),
        shorter side 800 (longer at most 1333), padded to a multiple of 32"."""
        size = ("original size" if self.short_side is None
                else f"shorter side {self.short_side}")
        if self.max_long_side is not None:
            size += f" (longer at most {self.max_long_side})"
        return (f"{self.channel_order}, mean {tuple(self.mean)}, std {tuple(self.std)}, {size}, "
                f"padded to a multiple of {self.size_divisor}")

    def to_dict(self) -> dict:
        """Plain values (tuples as lists), saved with results."""
        return {key: _plain(value) for key, value in dataclasses.asdict(self).items()}

    def image_resize(self, size: tuple[int, int]) -> ImageResize:
        """The resize this preprocessing applies to an (H, W) image."""
        return ImageResize.shorter_side_to(size, self.short_side, self.max_long_side)

    def prepare(self, image: LoadedImage) -> ModelInput:
        """The network input for an image.

        Args:
            image: [H, W, 3] uint8 RGB.
        Returns:
            ModelInput: tensor [1, 3, Hp, Wp] float32 normalised in `channel_order`, the
            resized image (h, w) = `resized_size` at the top left, zeros after it; Hp, Wp the
            multiples of `size_divisor` at or above h, w. `resize` maps back to (H, W).
        """
        import torch  # only the network needs torch

        resize = self.image_resize(image.size)
        height, width = resize.resized_size  # type: ignore[misc]
        pixels = resize.apply_image(image.pixels).astype(np.float32)
        if self.channel_order == "BGR":
            pixels = pixels[..., ::-1]
        normalised = (pixels - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        padded_h = -(-height // self.size_divisor) * self.size_divisor
        padded_w = -(-width // self.size_divisor) * self.size_divisor
        tensor = torch.zeros(1, 3, padded_h, padded_w)
        tensor[0, :, :height, :width] = torch.from_numpy(
            np.ascontiguousarray(normalised.transpose(2, 0, 1)))
        return ModelInput(tensor, image.size, (height, width))


@dataclass(frozen=True)
class LongSideResize:
    """The bundled detector's preparation: the longer side resized to `long_side` pixels, both
    sides multiples of 16, RGB in [0, 1] (the network normalises inside itself); see
    `deformviz.imaging.prepare_for_model`. Picklable (statistics workers use it).

    Example:
        >>> LongSideResize(256).prepare(LoadedImage(np.zeros((480, 640, 3), np.uint8))).resized_size
        (192, 256)
    """

    long_side: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.long_side, int) or self.long_side % STRIDE or \
                not 32 <= self.long_side <= 4096:
            raise InputError(f"model input size must be a multiple of {STRIDE} in 32..4096, "
                             f"got {self.long_side}")

    def image_resize(self, size: tuple[int, int]) -> ImageResize:
        """The resize this preparation applies to an (H, W) image."""
        return ImageResize.longer_side_to(size, self.long_side, STRIDE)

    def prepare(self, image: LoadedImage) -> ModelInput:
        """ModelInput with tensor [1, 3, h, w] float32 RGB in [0, 1], h, w multiples of 16."""
        return prepare_for_model(image, self.long_side)

    def describe(self) -> str:
        return f"longer side {self.long_side} px"

    def to_dict(self) -> dict:
        return {"channel_order": "RGB", "range": [0.0, 1.0], "long_side": self.long_side,
                "size_divisor": STRIDE,
                "normalisation": "inside the network (ImageNet mean and std)"}


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def preprocessing_dict(preprocessing: object) -> dict | None:
    """What an image preparation saves with results: its `to_dict()`, a dataclass's fields as
    plain values, else None."""
    to_dict = getattr(preprocessing, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(preprocessing) and not isinstance(preprocessing, type):
        return {key: _plain(value) for key, value in dataclasses.asdict(preprocessing).items()}
    return None


#: mmdetection's pytorch-style ResNets (torchvision's ImageNet statistics, RGB).
MMDETECTION_PYTORCH = Preprocessing("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
#: MSRA / caffe-style ResNets: mmdetection's caffe style and detectron2 (BGR, no scaling).
CAFFE_BGR = Preprocessing("BGR", (103.53, 116.28, 123.675), (1.0, 1.0, 1.0))
#: The choice for a user's own factory network unless told otherwise: torchvision's.
IMAGENET_RGB = MMDETECTION_PYTORCH
