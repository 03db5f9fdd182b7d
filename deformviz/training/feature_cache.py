"""Trunk features of generated scenes, computed once and reused across epochs and runs.

The trunk is frozen, so its features of a scene never change: caching them makes an epoch cost
only the deformable stage and the heads (about 20x cheaper on a CPU), and lets the deformable
network and its plain twin train on identical inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from deformviz.models.efficientnet_lite import EfficientNetLite0Trunk
from deformviz.scenes.dataset import SceneDataset, collate_scenes
from deformviz.scenes.generator import SceneConfig


@dataclass
class FeatureCache:
    """features [N, 112, h, w] float16; boxes/labels: per scene [n_i, 4] pixels / [n_i]."""

    features: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]
    seed: int
    start: int
    image_size: tuple[int, int]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(dict(features=self.features, boxes=self.boxes, labels=self.labels,
                        seed=self.seed, start=self.start, image_size=list(self.image_size)), tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "FeatureCache":
        d = torch.load(path, weights_only=True)
        return cls(d["features"], d["boxes"], d["labels"], d["seed"], d["start"],
                   tuple(d["image_size"]))

    def __len__(self) -> int:
        return self.features.shape[0]


@torch.no_grad()
def build_feature_cache(trunk: EfficientNetLite0Trunk, count: int, seed: int, start: int = 0,
                        config: SceneConfig | None = None, batch_size: int = 32,
                        device: str = "cpu", progress=None) -> FeatureCache:
    """Generates scenes start .. start + count - 1 of `seed` and runs the trunk over them.

    Args:
        progress: optional callable(done, total) for a progress display.
    """
    dataset = SceneDataset(count, seed=seed, config=config, start=start, with_masks=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate_scenes)
    trunk = trunk.eval().to(device)
    chunks, boxes, labels = [], [], []
    for images, targets in loader:
        features = trunk(trunk.normalize(images.to(device)))
        chunks.append(features.half().cpu())
        boxes += [t["boxes"] for t in targets]
        labels += [t["labels"] for t in targets]
        if progress is not None:
            progress(len(boxes), count)
    image_size = dataset.generator.config.image_size
    return FeatureCache(torch.cat(chunks), boxes, labels, seed, start, tuple(image_size))
