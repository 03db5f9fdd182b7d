"""The torch dataset wrapper and its collate function."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from deformviz.scenes import SceneConfig
from deformviz.scenes.dataset import SceneDataset, collate_scenes


def test_item_shapes_and_ranges() -> None:
    ds = SceneDataset(length=4, seed=0)
    assert len(ds) == 4
    image, target = ds[1]
    assert image.dtype == torch.float32 and image.shape == (3, 256, 256)
    assert 0.0 <= image.min() and image.max() <= 1.0
    n = target["labels"].shape[0]
    assert target["labels"].dtype == torch.int64
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (n, 4)
    assert target["masks"].dtype == torch.bool and target["masks"].shape == (n, 256, 256)
    assert int(target["index"]) == 1


def test_deterministic_and_offset_by_start() -> None:
    a = SceneDataset(length=3, seed=9)[2]
    b = SceneDataset(length=1, seed=9, start=2)[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])


def test_collate_batches_images_and_lists_targets() -> None:
    ds = SceneDataset(length=3, seed=1, config=SceneConfig(image_size=(64, 96)), with_masks=False)
    images, targets = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_scenes)))
    assert images.shape == (3, 3, 64, 96)
    assert len(targets) == 3 and "masks" not in targets[0]
    assert [int(t["index"]) for t in targets] == [0, 1, 2]
