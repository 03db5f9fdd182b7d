"""load_image: every mode to upright RGB, and a one-line ImageLoadError for bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deformviz.errors import ImageLoadError
from deformviz.imaging import as_loaded_image, load_image

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def test_loads_a_jpeg_sample() -> None:
    image = load_image(SAMPLES / "chelsea.jpg")
    assert image.size == (300, 451) and image.pixels.dtype == np.uint8
    assert image.pixels.shape == (300, 451, 3) and image.source_mode == "RGB"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # 40 wide, 20 high, left half red; orientation 6 = rotate 90 degrees clockwise to view.
    array = np.zeros((20, 40, 3), np.uint8)
    array[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(array), tmp_path / "rotated.png", exif=exif.tobytes())
    image = load_image(path)
    assert image.size == (40, 20)  # upright: 40 high, 20 wide
    assert tuple(image.pixels[5, 10]) == (255, 0, 0)  # the red half is now on top
    assert tuple(image.pixels[35, 10]) == (0, 0, 0)


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "I;16", "RGBA", "LA", "I", "F"])
def test_modes_convert_to_rgb(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray(np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1)))
    suffix = {"CMYK": ".jpg", "I;16": ".png", "I": ".tif", "F": ".tif"}.get(mode, ".png")
    if mode == "I;16":
        image = Image.fromarray((np.asarray(base).astype(np.uint16) * 257))
    elif mode == "F":
        image = Image.fromarray(np.asarray(base).astype(np.float32) / 255)
    else:
        image = base.convert(mode)
    path = _save(image, tmp_path / f"img{suffix}")
    loaded = load_image(path)
    assert loaded.pixels.shape == (8, 16, 3) and loaded.pixels.dtype == np.uint8
    if mode in ("L", "I;16", "I", "F", "RGBA", "LA", "P"):
        # Grey ramp survives (16-bit scaled to 8-bit).
        np.testing.assert_allclose(loaded.pixels[0, :, 0].astype(int), np.arange(0, 256, 16), atol=1)


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red, alpha 0 on the left half, 255 on the right
    rgba[:, 2:, 3] = 255
    loaded = load_image(_save(Image.fromarray(rgba), tmp_path / "alpha.png"))
    assert tuple(loaded.pixels[0, 0]) == (255, 255, 255)
    assert tuple(loaded.pixels[0, 3]) == (255, 0, 0)
    palette = Image.fromarray(rgba[..., :3]).convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])
    loaded = load_image(_save(palette, tmp_path / "palette.png", transparency=palette.info["transparency"]))
    assert tuple(loaded.pixels[0, 0]) == (255, 255, 255)


def test_float_image_outside_unit_range_is_refused(tmp_path: Path) -> None:
    path = _save(Image.fromarray(np.full((4, 4), 7.0, np.float32)), tmp_path / "f.tif")
    with pytest.raises(ImageLoadError, match="32-bit float"):
        load_image(path)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height pixels but holds almost no data (a bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("case,message", [
    ("missing", "no such file"),
    ("folder", "is a folder"),
    ("text", "not an image"),
    ("empty", "not an image"),
    ("truncated", "truncated or corrupt"),
    ("bomb", "decompression bomb"),
])
def test_bad_files_raise_one_line(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / f"{case}.png"
    if case == "folder":
        path.mkdir()
    elif case == "text":
        path.write_text("not an image\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        data = (SAMPLES / "scene_000.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "bomb":
        _png_header_only(path, 30000, 30000)
    with pytest.raises(ImageLoadError, match=message) as info:
        load_image(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (20, 10)), tmp_path / "small.png")
    assert load_image(path, max_pixels=200).size == (10, 20)
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(path, max_pixels=199)


def test_as_loaded_image_accepts_arrays_and_pil() -> None:
    array = np.zeros((5, 6, 3), np.uint8)
    assert as_loaded_image(array).size == (5, 6)
    assert as_loaded_image(Image.fromarray(array).convert("L")).pixels.shape == (5, 6, 3)
    with pytest.raises(ValueError):
        as_loaded_image(np.zeros((5, 6), np.float32))
