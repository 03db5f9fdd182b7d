"""Reading a COCO-format annotation file and matching its images to files in a folder.

Everything that can be checked without decoding an image is checked here, before a long run
starts, and reported as one `AnnotationError` line (exit code 2 on the command line): a missing
or malformed file, images whose file is not in the folder, annotations of unknown images or
categories, boxes that are not four finite numbers with non-negative width and height,
segmentations of the wrong structure.

What is read (other fields are ignored)::

    images:      [{"id": int, "file_name": str, "height": int, "width": int}, ...]
    annotations: [{"image_id": int, "category_id": int, "bbox": [x, y, w, h],
                   "area": number (optional), "iscrowd": 0 | 1 (optional),
                   "segmentation": polygons | RLE (optional)}, ...]
    categories:  [{"id": int, "name": str}, ...] (optional; if given, every annotation's
                  category_id must be one of them)

Boxes are COCO's [x, y, width, height] in continuous pixels (pixel i spans [i, i + 1]) and are
kept as (x1, y1, x2, y2). Images are processed in increasing id order.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deformviz.errors import InputError

from .masks import check_segmentation

__all__ = ["AnnotationError", "CocoObject", "CocoImage", "CocoDataset", "read_coco"]


class AnnotationError(InputError):
    """The annotation file (or how it matches the image folder) is unusable; one line."""


@dataclass(frozen=True)
class CocoObject:
    """One annotated object.

    Attributes:
        box: (x1, y1, x2, y2) continuous image pixels.
        category_id: the annotation's category.
        area: the annotation's "area" (segment pixels in COCO), or None if absent.
        crowd: iscrowd = 1 (a region of many objects, not one).
        segmentation: the raw polygons or RLE, or None.
    """

    box: tuple[float, float, float, float]
    category_id: int
    area: float | None = None
    crowd: bool = False
    segmentation: Any = None

    @property
    def box_area(self) -> float:
        """Box width * height, pixels squared."""
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass(frozen=True)
class CocoImage:
    """One image entry with its objects; `path` is the file in the image folder."""

    id: int
    file_name: str
    path: Path
    size: tuple[int, int] | None  # (height, width) as annotated, None if not given
    objects: tuple[CocoObject, ...] = field(default=())


@dataclass(frozen=True)
class CocoDataset:
    """The images of an annotation file (sorted by id), with what identifies the file."""

    images: tuple[CocoImage, ...]
    categories: dict[int, str]
    annotation_file: Path
    sha256: str

    @property
    def annotation_count(self) -> int:
        return sum(len(image.objects) for image in self.images)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _load_json(path: Path) -> tuple[dict, str]:
    if not path.exists():
        raise AnnotationError(f"{path}: no such annotation file")
    if path.is_dir():
        raise AnnotationError(f"{path}: is a folder, not an annotation file")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise AnnotationError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a COCO object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(f"{path}: no '{key}' list (is this a COCO instances file?)")
    return data, hashlib.sha256(raw).hexdigest()


def _categories(data: dict, path: Path) -> dict[int, str]:
    raw = data.get("categories")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise AnnotationError(f"{path}: 'categories' must be a list")
    categories: dict[int, str] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not _is_int(entry.get("id")):
            raise AnnotationError(f"{path}: categories[{index}] has no integer 'id'")
        name = entry.get("name", str(entry["id"]))
        if not isinstance(name, str):
            raise AnnotationError(f"{path}: categories[{index}] 'name' is not a string")
        if entry["id"] in categories:
            raise AnnotationError(f"{path}: category id {entry['id']} appears twice")
        categories[entry["id"]] = name
    return categories


def _image_entries(data: dict, path: Path, folder: Path) -> dict[int, tuple[str, Path, tuple[int, int] | None]]:
    entries: dict[int, tuple[str, Path, tuple[int, int] | None]] = {}
    missing: list[tuple[int, str]] = []
    for index, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or not _is_int(entry.get("id")):
            raise AnnotationError(f"{path}: images[{index}] has no integer 'id'")
        image_id, name = entry["id"], entry.get("file_name")
        if not isinstance(name, str) or not name or Path(name).is_absolute():
            raise AnnotationError(f"{path}: image {image_id} has no relative 'file_name'")
        if image_id in entries:
            raise AnnotationError(f"{path}: image id {image_id} appears twice")
        height, width = entry.get("height"), entry.get("width")
        size = None
        if height is not None or width is not None:
            if not (_is_int(height) and _is_int(width) and height > 0 and width > 0):
                raise AnnotationError(f"{path}: image {image_id} has a height/width that is not "
                                      "a positive integer")
            size = (height, width)
        file = folder / name
        if not file.is_file():
            missing.append((image_id, name))
        entries[image_id] = (name, file, size)
    if missing:
        first_id, first_name = missing[0]
        raise AnnotationError(
            f"{len(missing)} of {len(entries)} images in {path.name} match no file in {folder} "
            f"(first: id {first_id}, {first_name})")
    return entries


def _object(entry: Any, index: int, path: Path, image_ids, categories: dict[int, str],
            sizes: dict) -> tuple[int, CocoObject]:
    where = f"{path}: annotations[{index}]"
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where} is not an object")
    image_id = entry.get("image_id")
    if not _is_int(image_id) or image_id not in image_ids:
        raise AnnotationError(f"{where}: image_id {image_id!r} matches no image in 'images'")
    category = entry.get("category_id")
    if not _is_int(category):
        raise AnnotationError(f"{where}: category_id {category!r} is not an integer")
    if categories and category not in categories:
        raise AnnotationError(f"{where}: category_id {category} is not in 'categories'")
    bbox = entry.get("bbox")
    values = [_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
    if values is None or any(v is None for v in values):
        raise AnnotationError(f"{where}: bbox {bbox!r} is not four finite numbers [x, y, w, h]")
    x, y, w, h = values  # type: ignore[misc]
    if w < 0 or h < 0:
        raise AnnotationError(f"{where}: bbox {bbox!r} has a negative width or height")
    area = entry.get("area")
    if area is not None and (_number(area) is None or area < 0):
        raise AnnotationError(f"{where}: area {area!r} is not a non-negative number")
    crowd = entry.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise AnnotationError(f"{where}: iscrowd {crowd!r} must be 0 or 1")
    segmentation = entry.get("segmentation")
    if segmentation is not None:
        size = sizes.get(image_id)
        if size is None and isinstance(segmentation, dict):
            # No size in 'images': the RLE's own size stands (checked when the image loads).
            raw = segmentation.get("size")
            size = tuple(raw) if isinstance(raw, list) and len(raw) == 2 else None
        problem = check_segmentation(segmentation, size or (0, 0))
        if problem is not None:
            raise AnnotationError(f"{where}: {problem}")
    return image_id, CocoObject((x, y, x + w, y + h), category,  # type: ignore[operator]
                                None if area is None else float(area), bool(crowd), segmentation)


def read_coco(annotation_file: str | Path, image_folder: str | Path) -> CocoDataset:
    """Read and check `annotation_file` against the files in `image_folder`.

    Args:
        annotation_file: a COCO instances JSON.
        image_folder: the folder the images' file_name are relative to.
    Returns:
        CocoDataset, images sorted by id.
    Raises:
        AnnotationError: one line saying what is wrong (see the module docstring).
    """
    path, folder = Path(annotation_file), Path(image_folder)
    if not folder.is_dir():
        raise AnnotationError(f"{folder}: no such image folder")
    data, digest = _load_json(path)
    categories = _categories(data, path)
    entries = _image_entries(data, path, folder)
    sizes = {image_id: size for image_id, (_, _, size) in entries.items()}
    objects: dict[int, list[CocoObject]] = {image_id: [] for image_id in entries}
    for index, entry in enumerate(data["annotations"]):
        image_id, obj = _object(entry, index, path, entries, categories, sizes)
        objects[image_id].append(obj)
    images = tuple(CocoImage(image_id, name, file, size, tuple(objects[image_id]))
                   for image_id, (name, file, size) in sorted(entries.items()))
    return CocoDataset(images, categories, path, digest)
