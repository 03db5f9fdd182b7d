"""A torch ``Dataset`` that draws scenes on the fly, and its collate function.

Item ``i`` is scene ``start + i`` of ``seed``, so the data do not depend on shuffling,
worker count or call order: any epoch order and any ``num_workers`` give the same scenes.
For fresh scenes every epoch, make a new dataset with ``start = epoch * length``.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from .generator import SceneConfig, SceneGenerator

Target = dict[str, torch.Tensor]


class SceneDataset(Dataset):
    """Procedural scenes as tensors.

    Each item is ``(image, target)``:

    - image: float32 [3, H, W], RGB in [0, 1].
    - target["boxes"]: float32 [N, 4], (x1, y1, x2, y2) in image pixels, x2/y2 exclusive.
    - target["labels"]: int64 [N], indices into :data:`deformviz.scenes.CLASS_NAMES`.
    - target["masks"]: bool [N, H, W] visible masks (only if ``with_masks``).
    - target["index"]: int64 [] scene index.

    Example:
        >>> ds = SceneDataset(length=100, seed=0)
        >>> loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate_scenes)
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        config: SceneConfig | None = None,
        start: int = 0,
        with_masks: bool = True,
    ) -> None:
        """Create the dataset.

        Args:
            length: Number of scenes.
            seed: Generator seed.
            config: Scene distribution; default :class:`SceneConfig()`.
            start: Index of the first scene.
            with_masks: Include the masks in the targets.
        """
        if length < 0 or start < 0:
            raise ValueError("length and start must be non-negative")
        self.generator = SceneGenerator(config, seed)
        self.length = int(length)
        self.start = int(start)
        self.with_masks = with_masks

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Target]:
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} scenes")
        scene = self.generator(self.start + i)
        image = torch.from_numpy(scene.image).permute(2, 0, 1).float().div_(255.0)
        target: Target = {
            "boxes": torch.from_numpy(scene.boxes),
            "labels": torch.from_numpy(scene.classes),
            "index": torch.tensor(scene.index, dtype=torch.int64),
        }
        if self.with_masks:
            target["masks"] = torch.from_numpy(scene.masks)
        return image.contiguous(), target


def collate_scenes(batch: list[tuple[torch.Tensor, Target]]) -> tuple[torch.Tensor, list[Target]]:
    """Stack images; keep targets as a list (object counts differ).

    Args:
        batch: Items from :class:`SceneDataset`, all of one image size.

    Returns:
        (images float32 [B, 3, H, W], list of B target dicts).
    """
    images = torch.stack([image for image, _ in batch])
    targets = [target for _, target in batch]
    return images, targets
