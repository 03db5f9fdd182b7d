"""Scene ground truth as JSON, and saving/loading a scene as PNG + JSON.

JSON layout (``"format": "deformviz.scenes/1"``)::

    {
      "format": "deformviz.scenes/1",
      "image": "scene_000.png",            # file name next to the JSON, or null
      "image_size": {"height": 256, "width": 256},
      "seed": 0, "index": 0,
      "class_names": ["ellipse", ...],
      "box_format": "x1y1x2y2, image pixels, x2/y2 exclusive",
      "mask_format": "coco-rle-uncompressed",   # or null when masks are omitted
      "objects": [
        {"class_id": 3, "class_name": "star", "box": [x1, y1, x2, y2],
         "area": 1234, "mask": {"size": [256, 256], "counts": [...]}},
        ...
      ]
    }

Objects are listed back to front (painting order). ``area`` is the visible mask's pixel
count. Masks are COCO uncompressed RLE (see :mod:`.rle`); they may be omitted
(``include_masks=False``), and such a file cannot be turned back into a :class:`Scene`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .rle import decode_mask, encode_mask
from .scene import Scene
from .shapes import CLASS_NAMES

FORMAT = "deformviz.scenes/1"
BOX_FORMAT = "x1y1x2y2, image pixels, x2/y2 exclusive"
MASK_FORMAT = "coco-rle-uncompressed"


def scene_to_json(
    scene: Scene, image_file: str | None = None, include_masks: bool = True
) -> dict[str, Any]:
    """Ground truth of a scene as a JSON-ready dict.

    Args:
        scene: The scene.
        image_file: Name of the image file to record, or None.
        include_masks: Store every visible mask as RLE.

    Returns:
        Dict in the layout described in this module's docstring.
    """
    height, width = scene.image_size
    objects = []
    for k in range(scene.num_objects):
        class_id = int(scene.classes[k])
        entry: dict[str, Any] = {
            "class_id": class_id,
            "class_name": CLASS_NAMES[class_id],
            "box": [float(v) for v in scene.boxes[k]],
            "area": int(np.count_nonzero(scene.masks[k])),
        }
        if include_masks:
            entry["mask"] = encode_mask(scene.masks[k])
        objects.append(entry)
    return {
        "format": FORMAT,
        "image": image_file,
        "image_size": {"height": height, "width": width},
        "seed": scene.seed,
        "index": scene.index,
        "class_names": list(CLASS_NAMES),
        "box_format": BOX_FORMAT,
        "mask_format": MASK_FORMAT if include_masks else None,
        "objects": objects,
    }


def scene_from_json(data: dict[str, Any], image: np.ndarray) -> Scene:
    """Rebuild a scene from its JSON ground truth and its image.

    Args:
        data: Dict written by :func:`scene_to_json` with masks included.
        image: uint8 [H, W, 3] matching ``data["image_size"]``.

    Returns:
        The scene.

    Raises:
        ValueError: On an unknown format, a size mismatch, or missing masks.
    """
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown scene format {data.get('format')!r}, expected {FORMAT!r}")
    if data.get("mask_format") != MASK_FORMAT:
        raise ValueError("this ground truth has no masks; it cannot be loaded as a Scene")
    height, width = data["image_size"]["height"], data["image_size"]["width"]
    if image.shape != (height, width, 3):
        raise ValueError(f"image shape {image.shape} does not match {(height, width, 3)}")
    # Map stored class names onto ours so files stay valid if the class order changes.
    names = data["class_names"]
    objects = data["objects"]
    masks = np.zeros((len(objects), height, width), dtype=bool)
    for k, obj in enumerate(objects):
        masks[k] = decode_mask(obj["mask"])
    return Scene(
        image=np.ascontiguousarray(image, dtype=np.uint8),
        masks=masks,
        boxes=np.asarray([o["box"] for o in objects], dtype=np.float32).reshape(-1, 4),
        classes=np.asarray(
            [CLASS_NAMES.index(names[o["class_id"]]) for o in objects], dtype=np.int64
        ),
        seed=int(data["seed"]),
        index=int(data["index"]),
    )


def save_scene(
    scene: Scene, directory: str | Path, stem: str, include_masks: bool = True
) -> tuple[Path, Path]:
    """Write ``<stem>.png`` (lossless image) and ``<stem>.json`` (ground truth).

    Args:
        scene: The scene.
        directory: Output folder; created if missing.
        stem: File name without extension, e.g. ``"scene_000"``.
        include_masks: Store masks as RLE in the JSON.

    Returns:
        (png path, json path).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    png_path, json_path = folder / f"{stem}.png", folder / f"{stem}.json"
    Image.fromarray(scene.image).save(png_path, optimize=True)
    data = scene_to_json(scene, image_file=png_path.name, include_masks=include_masks)
    json_path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    return png_path, json_path


def load_scene(json_path: str | Path) -> Scene:
    """Load a scene written by :func:`save_scene` (its JSON and the image it names).

    Args:
        json_path: Path of the JSON file.

    Returns:
        The scene.
    """
    path = Path(json_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not data.get("image"):
        raise ValueError(f"{path} names no image file")
    with Image.open(path.parent / data["image"]) as img:
        image = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return scene_from_json(data, image)
