"""A tiny COCO dataset for the attention statistics: random images whose objects lie where a
network detects something (so its decoder queries match them), of all three size classes,
with a polygon mask and a crowd region; written in code, no downloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from deformviz.imaging import LoadedImage

#: (height, width) of the images; 4 images keep a run a few seconds.
SIZES = ((120, 200), (150, 110), (96, 96), (100, 140))


#: The least IoU that matches the enlarged objects to the detections they grew from (the random
#: network's boxes are a few pixels wide).
MATCH_IOU = 0.002


def _around(box, height: int, width: int, size: tuple[float, float]) -> list[float]:
    """A box of `size` (w, h) centred on `box`'s centre, inside the image: [x, y, w, h]."""
    x1, y1, x2, y2 = box
    w, h = min(size[0], width), min(size[1], height)
    left = min(max((x1 + x2) / 2 - w / 2, 0.0), width - w)
    top = min(max((y1 + y2) / 2 - h / 2, 0.0), height - h)
    return [left, top, w, h]


def write_attention_dataset(folder: Path, network, sizes=SIZES, seed: int = 0) -> Path:
    """Images 10, 20, ... in `folder` and `folder/instances.json`. Objects of each image: around
    the network's best detection a large one (80 x 64 px, a diamond polygon as its mask), around
    its second best a medium one (36 x 30), a small 16 x 12 box at the top left, and a crowd
    region at the bottom right; with `MATCH_IOU` the first two are the detections' objects."""
    from deformviz.visualize.attention_sampling import probe_attention_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for index, (height, width) in enumerate(sizes):
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        name = f"image_{index}.png"
        Image.fromarray(pixels).save(folder / name)
        image_id = 10 * (index + 1)
        images.append({"id": image_id, "file_name": name, "height": height, "width": width})
        probed = probe_attention_image(network, LoadedImage(pixels, name), score_threshold=0.0)
        boxes = [d.box for d in list(probed.detected_queries().values())[:2]]
        for box, size in zip(boxes, ((80.0, 64.0), (36.0, 30.0))):
            x, y, w, h = _around(box, height, width, size)
            entry = {"image_id": image_id, "bbox": [x, y, w, h]}
            if size[0] == 80.0:  # a diamond in the box: mask containment differs from the box's
                entry["segmentation"] = [[x + w / 2, y, x + w, y + h / 2, x + w / 2, y + h,
                                          x, y + h / 2]]
            annotations.append(entry)
        annotations.append({"image_id": image_id, "bbox": [0.0, 0.0, 16.0, 12.0]})
        annotations.append({"image_id": image_id, "bbox": [width - 30.0, height - 30.0, 30.0, 30.0],
                            "iscrowd": 1})
    for number, entry in enumerate(annotations, 1):
        entry.update(id=number, category_id=1)
    path = folder / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path
