"""Glyph bitmaps rendered from the DejaVu TrueType fonts that matplotlib ships.

Only matplotlib's own fonts are used (never a system font), so a glyph looks the same on
every machine with the same matplotlib and Pillow versions.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Font files (in matplotlib's ``mpl-data/fonts/ttf``) that glyph objects are drawn with.
#: Bold and regular weights of three families give stroke widths from thin to heavy.
GLYPH_FONT_FILES: tuple[str, ...] = (
    "DejaVuSans-Bold.ttf",
    "DejaVuSans.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
)

#: Side of the square canonical glyph bitmap, in bitmap pixels. Large enough that a glyph
#: scaled to ~230 image pixels is sampled at about one bitmap pixel per image pixel.
GLYPH_RESOLUTION = 256


def font_dir() -> Path:
    """Folder holding matplotlib's bundled TrueType fonts.

    Returns:
        Path of ``mpl-data/fonts/ttf`` inside the installed matplotlib.
    """
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=None)
def _font(file_name: str, size: int) -> ImageFont.FreeTypeFont:
    path = font_dir() / file_name
    if not path.is_file():
        raise FileNotFoundError(f"matplotlib font {file_name!r} not found in {font_dir()}")
    return ImageFont.truetype(str(path), size)


@functools.lru_cache(maxsize=512)
def glyph_bitmap(char: str, font_index: int = 0) -> np.ndarray:
    """Render one character as a centred, tightly fitted square bitmap.

    The glyph's ink box is scaled (aspect kept) so that its longer side spans the whole
    bitmap; the shorter side is centred. Results are cached per (char, font).

    Args:
        char: A single character, e.g. ``"A"`` or ``"7"``.
        font_index: Index into :data:`GLYPH_FONT_FILES`.

    Returns:
        uint8 array [GLYPH_RESOLUTION, GLYPH_RESOLUTION], 255 = ink, 0 = paper (antialiased
        edges; threshold at 128 for a binary shape). Read-only.
    """
    if len(char) != 1:
        raise ValueError(f"expected one character, got {char!r}")
    res = GLYPH_RESOLUTION
    # Render larger than needed, crop to the ink box, then resize into the square.
    font = _font(GLYPH_FONT_FILES[font_index % len(GLYPH_FONT_FILES)], 2 * res)
    x0, y0, x1, y1 = font.getbbox(char)
    canvas = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
    ImageDraw.Draw(canvas).text((2 - x0, 2 - y0), char, fill=255, font=font)
    ink = canvas.crop(canvas.getbbox())
    w, h = ink.size
    scale = res / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    ink = ink.resize((new_w, new_h), Image.Resampling.LANCZOS)
    out = Image.new("L", (res, res), 0)
    out.paste(ink, ((res - new_w) // 2, (res - new_h) // 2))
    bitmap = np.asarray(out, dtype=np.uint8).copy()
    bitmap.setflags(write=False)
    return bitmap
