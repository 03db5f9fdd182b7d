"""Images in: robust loading to RGB, and the resize the model needs.

`load_image` turns any file Pillow can read into an upright 8-bit RGB array (EXIF orientation
applied; greyscale, palette, 16-bit and CMYK converted; transparency composited on white), or
raises `ImageLoadError` with a one-line reason. `prepare_for_model` resizes it so the longer
side is `long_side` pixels and both sides are multiples of 16 (the network's stride), keeping
the exact per-axis scale (an `ImageResize`, `deformviz.image_resize`) so every result maps back
to ORIGINAL image pixels: figures are drawn over the original image, undistorted.

Coordinates: pixel index coordinates put pixel i's centre at i; continuous (box) coordinates
let pixel i span [i, i + 1). Resizing is centre-aligned (Pillow's convention): model-input
pixel q covers original pixel (q + 0.5) * resize - 0.5, resize = original / resized per axis.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deformviz.errors import ImageLoadError, InputError
from deformviz.image_resize import ImageResize

__all__ = ["LoadedImage", "ModelInput", "ImageResize", "load_image", "as_loaded_image",
           "prepare_for_model", "resized_pixels", "MAX_IMAGE_PIXELS", "STRIDE"]

# Far above any camera photo in common use, far below what exhausts memory: a 100-megapixel
# RGB image is 300 MB decoded. Pillow's own guard is switched off while deformviz opens a file
# so that one limit, this one (or the caller's `max_pixels`), applies and is stated.
MAX_IMAGE_PIXELS = 100_000_000
STRIDE = 16  # the network's stride: model-input sides must be multiples of it


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An upright RGB image as it will be drawn.

    Attributes:
        pixels: [H, W, 3] uint8 RGB, EXIF orientation applied.
        name: where it came from (a file path, or a label for in-memory images).
        source_mode: the Pillow mode of the file before conversion (e.g. "CMYK", "I;16").
    """

    pixels: np.ndarray
    name: str
    source_mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


@dataclass(frozen=True, eq=False)
class ModelInput:
    """An image resized for a network, with what is needed to map results back.

    Attributes:
        tensor: [1, 3, Hp, Wp] float32 as the network takes it. From `prepare_for_model` (the
            bundled networks): RGB in [0, 1], exactly the resized image (multiples of 16).
            From `deformviz.networks.Preprocessing.prepare`: normalised in the network's
            channel order and zero-padded at the bottom and right up to (Hp, Wp).
        original_size: (H, W) of the loaded image.
        resized_size: (h, w) of the resized image inside `tensor` (before any padding).
    """

    tensor: object  # torch.Tensor; typed loosely so this module imports without torch
    original_size: tuple[int, int]
    resized_size: tuple[int, int]

    @property
    def padded_size(self) -> tuple[int, int]:
        """(Hp, Wp) of `tensor`: `resized_size` plus any padding."""
        return int(self.tensor.shape[-2]), int(self.tensor.shape[-1])  # type: ignore[attr-defined]

    @property
    def image_resize(self) -> ImageResize:
        """The resize from the original image to the model input: the one object that maps
        points and boxes both ways (and what `FeatureToImage.from_grid` applies)."""
        return ImageResize.between(self.original_size, self.resized_size)

    @property
    def resize(self) -> tuple[float, float]:
        """(y, x) original pixels per model-input pixel (`image_resize.factor`)."""
        return self.image_resize.factor

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """[K, 4] (x1, y1, x2, y2) continuous original pixels -> continuous model-input pixels."""
        return self.image_resize.boxes_to_input(boxes)

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """[K, 4] continuous model-input pixels -> continuous original pixels."""
        return self.image_resize.boxes_to_original(boxes)


def _open_error(path: Path) -> ImageLoadError | None:
    """A clear error for paths that cannot even be opened, else None."""
    if not path.exists():
        return ImageLoadError(f"{path}: no such file")
    if path.is_dir():
        return ImageLoadError(f"{path}: is a folder, not an image file")
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        return ImageLoadError(f"{path}: cannot read ({error.strerror or error})")
    return None


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{name}: {width}x{height} pixels ({width * height / 1e6:.0f} megapixels) exceeds "
            f"the limit of {max_pixels / 1e6:g} megapixels (a guard against decompression "
            f"bombs; raise it with max_pixels= or --max-megapixels)")


def _to_rgb(image: Image.Image, name: str) -> np.ndarray:
    """Any Pillow mode -> [H, W, 3] uint8 RGB; transparency is composited on white."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.float64)
        # 16-bit files arrive as I;16 or I: scale 0..65535 to 0..255. Mode I holding only
        # 8-bit values (some TIFFs) is taken as is.
        scale = 257.0 if mode != "I" or values.max(initial=0) > 255 else 1.0
        grey = np.clip(np.rint(values / scale), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all() or values.min(initial=0) < 0 or values.max(initial=0) > 1:
            raise ImageLoadError(f"{name}: 32-bit float image with values outside 0..1 is not "
                                 "supported; save it as 8- or 16-bit")
        grey = np.rint(values * 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    try:
        return np.asarray(image.convert("RGB"))
    except (ValueError, OSError) as error:
        raise ImageLoadError(f"{name}: cannot convert image mode {mode} to RGB ({error})") from None


def load_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> LoadedImage:
    """Read an image file as upright 8-bit RGB.

    Args:
        path: any format Pillow reads (JPEG, PNG, TIFF, WebP, BMP, GIF, ...), one frame
            (animated and multi-page files are refused: which frame is meant?).
        max_pixels: refuse images with more pixels than this, before decoding them.
    Returns:
        LoadedImage with pixels [H, W, 3] uint8 (H, W after EXIF orientation).
    Raises:
        ImageLoadError: missing, unreadable, not an image, truncated/corrupt, too large,
            several frames, or a mode that cannot be converted (one-line message naming the
            file).
    """
    path = Path(path)
    error = _open_error(path)
    if error is not None:
        raise error
    name = str(path)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # One limit: ours (checked from the header, before decoding), not Pillow's too.
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as image:
                _check_size(image, name, max_pixels)
                frames = getattr(image, "n_frames", 1)
                if frames > 1:  # never silently the first frame of several
                    raise ImageLoadError(f"{name}: holds {frames} frames (animated or "
                                         "multi-page); save the frame you want as a still "
                                         "image and pass that")
                source_mode = image.mode
                image.load()
                upright = ImageOps.exif_transpose(image)
                pixels = _to_rgb(upright, name)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageLoadError(f"{name}: truncated or corrupt image ({reason})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    return LoadedImage(np.ascontiguousarray(pixels), name, source_mode)


def as_loaded_image(image: object, max_pixels: int = MAX_IMAGE_PIXELS) -> LoadedImage:
    """Accept a path, a LoadedImage, a PIL image or an [H, W, 3] uint8 array."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, (str, Path)):
        return load_image(image, max_pixels)
    if isinstance(image, Image.Image):
        _check_size(image, "<PIL image>", max_pixels)
        return LoadedImage(np.ascontiguousarray(_to_rgb(image, "<PIL image>")), "<PIL image>",
                           image.mode)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or 0 in array.shape:
        raise InputError(f"expected an image path, PIL image or [H, W, 3] uint8 array, got "
                         f"{type(image).__name__} {getattr(array, 'shape', '')}")
    return LoadedImage(np.ascontiguousarray(array), "<array>")


def model_input_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Deprecated (one release): `ImageResize.longer_side_to(size, long_side).resized_size`."""
    warnings.warn("model_input_size is deprecated; use "
                  "ImageResize.longer_side_to(size, long_side).resized_size",
                  DeprecationWarning, stacklevel=2)
    return ImageResize.longer_side_to(size, long_side, STRIDE).resized_size  # type: ignore[return-value]


def resized_pixels(image: LoadedImage, size: tuple[int, int]) -> np.ndarray:
    """The image resized to (h, w) pixels: [h, w, 3] uint8 RGB (`ImageResize.apply_image`)."""
    return ImageResize.between(image.size, size).apply_image(image.pixels)


def prepare_for_model(image: LoadedImage, long_side: int = 512) -> ModelInput:
    """Resize an image for the network (bilinear, antialiased when shrinking).

    Args:
        image: the loaded image, [H, W, 3] uint8.
        long_side: model-input pixels of the longer side; a multiple of 16 in 32..4096.
    Returns:
        ModelInput with tensor [1, 3, h, w] float32 in [0, 1], h and w multiples of 16.
    """
    import torch  # the model needs it; loading images does not

    if long_side % STRIDE or not 32 <= long_side <= 4096:
        raise InputError(f"model input size must be a multiple of {STRIDE} in 32..4096, "
                         f"got {long_side}")
    resize = ImageResize.longer_side_to(image.size, long_side, STRIDE)
    array = resize.apply_image(image.pixels).astype(np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
    return ModelInput(tensor, image.size, resize.resized_size)  # type: ignore[arg-type]
