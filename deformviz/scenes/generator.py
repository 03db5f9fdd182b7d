"""Deterministic scene generation: scene number ``index`` of ``seed`` is always the same.

A scene is a background (a photo crop or a procedural texture) with objects of the classes
in :data:`CLASS_NAMES` painted on top, largest first. Each object is an exact binary mask
(random class instance, scale, aspect, rotation and mild elastic warp) filled with a random
texture, so only its shape tells its class. Sizes are log-uniform between
``min_object_size`` and ``max_object_fraction`` of the image side, so small (< 41^2 px box
area at 256 x 256), medium and large (> 96^2 px) objects are all common.

Example:
    >>> gen = SceneGenerator(seed=0)
    >>> scene = gen(0)
    >>> scene.image.shape, scene.masks.shape[1:]
    ((256, 256, 3), (256, 256))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .canvas import SceneCanvas, masked_mean_color
from .photos import default_photo_dir, load_photos
from .pose import sample_pose
from .raster import rasterize
from .scene import Scene, tight_boxes
from .shapes import CLASS_NAMES, UPRIGHT_CLASSES, canonical_shape
from .textures import random_texture

__all__ = ["CLASS_NAMES", "SceneConfig", "SceneGenerator", "make_scene"]


@dataclass(frozen=True)
class SceneConfig:
    """Everything that shapes the scene distribution (besides seed and index).

    Attributes:
        image_size: (height, width) in pixels.
        objects_per_scene: (min, max) number of objects attempted, inclusive. Fewer may end
            up in the scene when placements keep hiding earlier objects.
        min_object_size: Smallest target box side, sqrt(box area), in pixels.
        max_object_fraction: Largest box side as a fraction of the shorter image side.
        max_aspect: Largest stretch of an object's width/height ratio (log-uniform).
        glyph_max_rotation_deg: Rotation limit for letters and digits, degrees; the other
            classes rotate freely.
        warp_amplitude: Largest elastic displacement, as a fraction of half the object size.
        min_visible_fraction: Each object keeps at least this fraction of its area visible.
        min_object_area: Smallest object area in pixels.
        placement_attempts: Poses tried per object before it is skipped.
        background_photo_probability: Chance that the background is a photo crop.
        fill_photo_probability: Chance that an object's fill is a photo crop.
        background_contrast: Procedural backgrounds are blended towards their mean colour,
            keeping this fraction of their contrast, so objects stand out.
        min_fill_contrast: Smallest mean absolute RGB difference (0-255) between an
            object's fill and what lies under it; fills below it are darkened or brightened.
        use_photos: Use the bundled photos; if False, everything is procedural.
        photo_dir: Folder with the photos; None = the repository's ``samples/``.
    """

    image_size: tuple[int, int] = (256, 256)
    objects_per_scene: tuple[int, int] = (2, 7)
    min_object_size: float = 12.0
    max_object_fraction: float = 0.9
    max_aspect: float = 1.6
    glyph_max_rotation_deg: float = 30.0
    warp_amplitude: float = 0.08
    min_visible_fraction: float = 0.3
    min_object_area: int = 24
    placement_attempts: int = 4
    background_photo_probability: float = 0.5
    fill_photo_probability: float = 0.15
    background_contrast: float = 0.6
    min_fill_contrast: float = 55.0
    use_photos: bool = True
    photo_dir: str | None = None


class SceneGenerator:
    """Makes scene ``index`` of ``seed`` on demand; cheap to copy into worker processes.

    The random stream of a scene is ``numpy.random.default_rng([seed, index])``, so scenes
    are independent of each other and of call order, and byte-identical across processes.
    """

    def __init__(self, config: SceneConfig | None = None, seed: int = 0) -> None:
        """Create a generator.

        Args:
            config: Scene distribution; default :class:`SceneConfig()`.
            seed: Non-negative integer seed.
        """
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.config = config or SceneConfig()
        self.seed = int(seed)

    def _photos(self) -> tuple[Image.Image, ...]:
        if not self.config.use_photos:
            return ()
        return load_photos(str(self.config.photo_dir or default_photo_dir()))

    def __call__(self, index: int) -> Scene:
        """Generate one scene.

        Args:
            index: Non-negative scene number.

        Returns:
            The scene; objects are listed in painting order (back to front).
        """
        if index < 0:
            raise ValueError(f"index must be non-negative, got {index}")
        cfg = self.config
        height, width = cfg.image_size
        rng = np.random.default_rng([self.seed, int(index)])
        photos = self._photos()

        canvas = SceneCanvas(self._background(rng, photos))
        count = int(rng.integers(cfg.objects_per_scene[0], cfg.objects_per_scene[1] + 1))
        classes = rng.integers(len(CLASS_NAMES), size=count)
        max_side = cfg.max_object_fraction * min(height, width)
        sides = np.exp(rng.uniform(math.log(cfg.min_object_size), math.log(max_side), size=count))

        placed: list[int] = []
        for k in np.argsort(-sides, kind="stable"):  # large objects first, at the back
            class_id = int(classes[k])
            shape = canonical_shape(class_id, rng)
            max_angle = (
                math.radians(cfg.glyph_max_rotation_deg) if class_id in UPRIGHT_CLASSES else math.pi
            )
            for _ in range(cfg.placement_attempts):
                pose = sample_pose(
                    rng,
                    shape.outline,
                    float(sides[k]),
                    (height, width),
                    max_aspect=cfg.max_aspect,
                    max_angle=max_angle,
                    warp_amplitude=cfg.warp_amplitude,
                    max_box_fraction=cfg.max_object_fraction,
                )
                mask, window = rasterize(shape.coverage, pose, (height, width))
                if np.count_nonzero(mask) < cfg.min_object_area:
                    continue
                if not canvas.keeps_visible(mask, window, cfg.min_visible_fraction):
                    continue
                fill = self._fill(rng, photos, canvas, mask, window)
                canvas.paint(mask, window, fill)
                placed.append(class_id)
                break

        masks = canvas.visible_masks()
        return Scene(
            image=canvas.image,
            masks=masks,
            boxes=tight_boxes(masks),
            classes=np.asarray(placed, dtype=np.int64),
            seed=self.seed,
            index=int(index),
        )

    def _background(self, rng: np.random.Generator, photos: tuple[Image.Image, ...]) -> np.ndarray:
        height, width = self.config.image_size
        if photos and rng.random() < self.config.background_photo_probability:
            return random_texture(rng, height, width, photos, photo_probability=1.0)
        texture = random_texture(rng, height, width)
        mean = texture[::4, ::4].reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        flat = Image.new("RGB", (width, height), tuple(int(c) for c in mean))
        blended = Image.blend(flat, Image.fromarray(texture), self.config.background_contrast)
        return np.asarray(blended, dtype=np.uint8)

    def _fill(
        self,
        rng: np.random.Generator,
        photos: tuple[Image.Image, ...],
        canvas: SceneCanvas,
        mask: np.ndarray,
        window: tuple[int, int, int, int],
    ) -> np.ndarray:
        x0, y0, x1, y1 = window
        fill = random_texture(rng, y1 - y0, x1 - x0, photos, self.config.fill_photo_probability)
        under = canvas.mean_color_under(mask, window)
        fill_mean = masked_mean_color(fill, mask)
        if float(np.abs(fill_mean - under).mean()) >= self.config.min_fill_contrast:
            return fill
        # Too close to its surroundings: push the fill away from the local brightness.
        if float(under.mean()) > 127.5:
            return (fill.astype(np.float32) * 0.35).astype(np.uint8)
        return (fill.astype(np.float32) * 0.35 + 166.0).astype(np.uint8)


def make_scene(seed: int, index: int, config: SceneConfig | None = None) -> Scene:
    """Generate scene ``index`` of ``seed`` (see :class:`SceneGenerator`).

    Args:
        seed: Non-negative integer seed.
        index: Non-negative scene number.
        config: Scene distribution; default :class:`SceneConfig()`.

    Returns:
        The scene.
    """
    return SceneGenerator(config, seed)(index)
