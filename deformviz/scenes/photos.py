"""The bundled real photos (``samples/*.jpg``) and random crops of them.

Photos serve as backgrounds and as object fills. The file list is fixed (not globbed) so
that adding files to ``samples/`` never changes the scenes a given seed produces.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

#: Photos read from the photo folder, in this order (see ``samples/CREDITS.md``).
PHOTO_FILES: tuple[str, ...] = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")


def default_photo_dir() -> Path:
    """The repository's ``samples/`` folder, next to the ``deformviz`` package.

    Returns:
        Path of the folder (it may not exist in an installed copy without the samples).
    """
    return Path(__file__).resolve().parents[2] / "samples"


@functools.lru_cache(maxsize=4)
def load_photos(directory: str) -> tuple[Image.Image, ...]:
    """Load and decode the bundled photos once per process.

    Args:
        directory: Folder holding :data:`PHOTO_FILES`.

    Returns:
        The photos as RGB PIL images, in :data:`PHOTO_FILES` order.

    Raises:
        FileNotFoundError: If a photo is missing.
    """
    folder = Path(directory)
    photos = []
    for name in PHOTO_FILES:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"photo {path} not found; pass SceneConfig(photo_dir=...) or "
                "SceneConfig(use_photos=False)"
            )
        with Image.open(path) as img:
            photos.append(img.convert("RGB"))
    return tuple(photos)


def random_photo_crop(
    rng: np.random.Generator,
    photos: tuple[Image.Image, ...],
    height: int,
    width: int,
    min_zoom: float = 1.0,
    max_zoom: float = 4.0,
) -> np.ndarray:
    """Crop a random photo region of the output's aspect ratio and resize it.

    Args:
        rng: Random source.
        photos: Photos to choose from (see :func:`load_photos`).
        height: Output height in pixels.
        width: Output width in pixels.
        min_zoom: Smallest crop, relative to the largest crop of that aspect (1 = largest).
        max_zoom: Largest zoom factor; the crop side shrinks by a log-uniform factor in
            [min_zoom, max_zoom].

    Returns:
        uint8 array [height, width, 3], possibly mirrored left-right.
    """
    photo = photos[int(rng.integers(len(photos)))]
    pw, ph = photo.size
    # Largest crop with the output's aspect ratio, then zoom in.
    full = min(pw / width, ph / height)
    zoom = float(np.exp(rng.uniform(np.log(min_zoom), np.log(max_zoom))))
    cw, ch = width * full / zoom, height * full / zoom
    x0 = rng.uniform(0, pw - cw)
    y0 = rng.uniform(0, ph - ch)
    crop = photo.resize((width, height), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    out = np.asarray(crop, dtype=np.uint8)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)
