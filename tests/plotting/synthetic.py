"""Plain-data results for figure tests: any number of units and levels, with or without
modulation, built without torch or a model (the plotting takes nothing else)."""

from __future__ import annotations

import numpy as np

from deformviz.imaging import LoadedImage
from deformviz.visualize.results import (BoxBins, Detection, RoIResult, SamplingResult, Unit,
                                         UnitSampling)

_KERNEL = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.float64)


def photo(height: int = 300, width: int = 451, seed: int = 0) -> LoadedImage:
    """A busy, warm-coloured image (orange and red, where orange points used to vanish)."""
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), dtype=np.float64)
    base[..., 0] = 200 + 40 * np.sin(np.linspace(0, 9, width))[None, :]
    base[..., 1] = 90 + 60 * np.cos(np.linspace(0, 7, height))[:, None]
    base[..., 2] = 30
    noise = rng.normal(0, 25, size=base.shape)
    return LoadedImage(np.clip(base + noise, 0, 255).astype(np.uint8), "synthetic.png")


def unit_sampling(pixel: tuple[float, float], levels: int, spread: float, modulated: bool,
                  seed: int, title_role: str = "background",
                  detection: Detection | None = None) -> UnitSampling:
    """Points of a unit at `pixel`: each level's 9 children around their parent, `spread`
    pixels apart at the top and halving on the way down, with jitter; a few inactive."""
    rng = np.random.default_rng(seed)
    points, parents, active, weights = [], [], [], []
    previous = np.array([pixel], dtype=np.float64)
    previous_active = np.array([True])
    previous_weight = np.array([1.0])
    for level in range(1, levels + 1):
        step = spread / 2 ** (level - 1)
        parent = np.repeat(np.arange(len(previous)), 9)
        offsets = np.tile(_KERNEL, (len(previous), 1)) * step
        jitter = rng.normal(0, step * 0.25, size=offsets.shape)
        level_points = previous[parent] + offsets + jitter
        level_active = previous_active[parent] & (rng.random(len(parent)) > 0.02)
        mask = rng.uniform(0.1, 1.0, len(parent)) if modulated else np.ones(len(parent))
        level_weight = previous_weight[parent] * mask
        points.append(level_points)
        parents.append(parent if level > 1 else np.zeros(9, dtype=np.int64))
        active.append(level_active)
        weights.append(level_weight)
        previous, previous_active, previous_weight = level_points, level_active, level_weight
    unit = Unit((int(pixel[1] // 16), int(pixel[0] // 16)), pixel, title_role, detection)
    return UnitSampling(unit, tuple(points), tuple(parents), tuple(active), tuple(weights), 2.0)


def sampling_result(units: int = 3, levels: int = 3, modulated: bool = False,
                    image: LoadedImage | None = None, mode: str = "units") -> SamplingResult:
    """`units` units spread over the image, each with `levels` levels of points."""
    image = image or photo()
    height, width = image.size
    rng = np.random.default_rng(units * 10 + levels)
    samplings = []
    for index in range(units):
        pixel = (float(rng.uniform(0.15, 0.85) * width), float(rng.uniform(0.15, 0.85) * height))
        detection = Detection((pixel[0] - 30, pixel[1] - 30, pixel[0] + 30, pixel[1] + 30),
                              "circle", 0.83) if index % 3 == 1 else None
        role = "small object" if detection else "background"
        samplings.append(unit_sampling(pixel, levels, 20.0, modulated, index, role, detection))
    names = tuple(f"layer{i}" for i in range(levels, 0, -1))  # bottom to top
    return SamplingResult(image, "synthetic", names, levels, tuple(samplings), (), mode,
                          (height, width))


def roi_result(boxes: list[tuple[float, float, float, float]],
               image: LoadedImage | None = None) -> RoIResult:
    """3 x 3 regular bins of each box and the same bins shifted by a pattern of offsets."""
    image = image or photo()
    entries = []
    for index, box in enumerate(boxes):
        x1, y1, x2, y2 = box
        xs, ys = np.linspace(x1, x2, 4), np.linspace(y1, y2, 4)
        regular = np.array([[[xs[j], ys[i], xs[j + 1], ys[i + 1]] for j in range(3)]
                            for i in range(3)])
        shift = np.array([[[(i - 1) * 3.0, (j - 1) * 2.0] * 2 for j in range(3)]
                          for i in range(3)])
        entries.append(BoxBins(box, "square", 0.91 - index * 0.1, regular, regular + shift,
                               "given"))
    return RoIResult(image, "synthetic", tuple(entries), (3, 3), 0.1, image.size)


def attention_result(queries: int = 1, heads: int = 8, levels: int = 4, points: int = 4,
                     seed: int = 0):
    """Deformable attention of `queries` decoder queries on `photo()`: per head a direction,
    points spreading further on coarser levels, softmax weights, a detection box."""
    from deformviz.visualize.attention_results import AttentionResult, AttentionUnit

    rng = np.random.default_rng(seed)
    image = photo()
    units = []
    for query in range(queries):
        centre = np.array([150.0 + 120 * query, 140.0])
        angles = np.arange(heads) * 2 * np.pi / heads
        direction = np.stack([np.cos(angles), np.sin(angles)], -1)[:, None, None, :]
        reach = (np.arange(1, points + 1)[None, None, :, None] * 6.0
                 * 2.0 ** np.arange(levels)[None, :, None, None] ** 0.5)
        locations = centre + direction * reach + rng.normal(0, 3, (heads, levels, points, 2))
        logits = rng.normal(0, 1.2, (heads, levels * points))
        weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        box = (centre[0] - 60, centre[1] - 45, centre[0] + 60, centre[1] + 45)
        units.append(AttentionUnit("model.decoder.layers.5.encoder_attn", "decoder", 5, "cross",
                                   17 + query, (float(centre[0]), float(centre[1])), None,
                                   locations, weights.reshape(heads, levels, points),
                                   Detection(box, "cat", 0.91 - 0.1 * query)))
    shapes = tuple((38 // 2 ** i, 57 // 2 ** i) for i in range(levels))
    strides = tuple((float(8 * 2 ** i), float(8 * 2 ** i)) for i in range(levels))
    return AttentionResult(image, "synthetic", (300, 451), (300, 451), shapes, strides,
                           tuple(units))
