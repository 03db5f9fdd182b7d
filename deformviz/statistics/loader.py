"""Images and their objects, decoded and prepared for the network in DataLoader workers.

Each item is one image: decoded upright RGB, prepared by the network's own preprocessing
(resize, normalise, pad: whatever the network's `prepare` does), with its objects turned into
`ImageObjects` (boxes, size-class areas, crowd flags, masks cropped to the objects). An image
that cannot be used (unreadable, a size that differs from its annotation, a mask whose run
lengths do not add up) becomes a `FailedImage` with a one-line reason: the run reports it and
goes on.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from deformviz.errors import InputError
from deformviz.imaging import LoadedImage, load_image

from .coco import CocoImage
from .masks import decode_segmentation
from .size_classes import ImageObjects

__all__ = ["PreparedImage", "FailedImage", "AnnotatedImages", "image_loader", "objects_of", "batches"]

# prepare(image) -> (tensor [1, 3, h, w], (h, w) the image was resized to before any padding)
Prepare = Callable[[LoadedImage], tuple[torch.Tensor, tuple[int, int]]]


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """One image ready for the network.

    Attributes:
        image_id: COCO id.
        tensor: [1, 3, h, w] the network's input (padding included).
        original_size: (H, W) of the image file (after EXIF orientation).
        resized_size: (h', w') the image was resized to before padding.
        objects: its objects in original-image pixels.
    """

    image_id: int
    tensor: torch.Tensor
    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    objects: ImageObjects

    @property
    def resize(self) -> tuple[float, float]:
        """(ry, rx) original pixels per model-input pixel."""
        return (self.original_size[0] / self.resized_size[0], self.original_size[1] / self.resized_size[1])


@dataclass(frozen=True)
class FailedImage:
    """An image that could not be used, and why (one line)."""

    image_id: int
    reason: str


def objects_of(image: CocoImage, image_size: tuple[int, int], use_mask: bool) -> ImageObjects:
    """The annotated objects of `image` as ImageObjects (masks decoded and cropped).

    With `use_mask` the size-class area is the annotation's "area" (else the mask's pixel count,
    else the box area); otherwise the box area.
    """
    boxes = torch.tensor([o.box for o in image.objects], dtype=torch.float64).reshape(-1, 4)
    masks = tuple(None if o.segmentation is None else decode_segmentation(o.segmentation, image_size)
                  for o in image.objects)
    areas = []
    for obj, mask in zip(image.objects, masks):
        if not use_mask:
            areas.append(obj.box_area)
        elif obj.area is not None:
            areas.append(obj.area)
        else:
            areas.append(float(mask.area) if mask is not None else obj.box_area)
    crowd = torch.tensor([o.crowd for o in image.objects], dtype=torch.bool)
    return ImageObjects(image_size, boxes, torch.tensor(areas, dtype=torch.float64), crowd, masks)


class AnnotatedImages(Dataset):
    """The images to process, as a map-style dataset of PreparedImage | FailedImage."""

    def __init__(self, images: Sequence[CocoImage], prepare: Prepare, use_mask: bool) -> None:
        self.images = list(images)
        self.prepare = prepare
        self.use_mask = use_mask

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> PreparedImage | FailedImage:
        entry = self.images[index]
        try:
            loaded = load_image(entry.path)
            if entry.size is not None and loaded.size != entry.size:
                return FailedImage(entry.id, f"{entry.path}: the image is {loaded.size[0]}x{loaded.size[1]} "
                                             f"but annotated as {entry.size[0]}x{entry.size[1]}")
            objects = objects_of(entry, loaded.size, self.use_mask)
            tensor, resized = self.prepare(loaded)
        except InputError as error:
            return FailedImage(entry.id, str(error))
        except ValueError as error:  # a segmentation that does not decode
            return FailedImage(entry.id, f"{entry.path}: bad annotation ({error})")
        return PreparedImage(entry.id, tensor, loaded.size, resized, objects)


def _keep(item):  # batch_size=None: items pass through one by one (module level: picklable)
    return item


def _ignore_interrupts(worker_id: int) -> None:
    # Ctrl-C is the main process's to handle: it finishes the image in flight, saves the state
    # and stops the workers; a worker dying on the signal would only turn that into an error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def image_loader(dataset: AnnotatedImages, workers: int) -> DataLoader:
    """Images in order, decoded and prepared by `workers` processes (0: in this process)."""
    return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers,
                      collate_fn=_keep, prefetch_factor=4 if workers else None,
                      persistent_workers=False, worker_init_fn=_ignore_interrupts if workers else None)


def batches(items: Iterable[PreparedImage | FailedImage], size: int) -> Iterator[list]:
    """The items grouped into lists of at most `size` prepared images of any input sizes (padded
    together by `padded_batch.pad_batch`); a failed image comes alone, at once.

    Landscape and portrait inputs (height > width) are grouped apart, as mmdetection's and
    detectron2's aspect-ratio grouping does, so a batch pads little. With `size` 1 the items
    come one by one in order."""
    pending: dict[bool, list[PreparedImage]] = {False: [], True: []}
    for item in items:
        if isinstance(item, FailedImage):
            yield [item]
            continue
        group = pending[item.tensor.shape[-2] > item.tensor.shape[-1]]
        group.append(item)
        if len(group) == size:
            yield group[:]
            group.clear()
    for group in pending.values():
        if group:
            yield group
