"""The training loop: deterministic from a seed, with checkpoints and resume.

Stage 1 caches the frozen trunk's features of `train_scenes` generated scenes (feature_cache.py).
Stage 2 trains the deformable stage, the dense heads and the RoI head on that cache.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from deformviz.models.detector import DeformableDetector, DetectorConfig
from deformviz.models.efficientnet_lite import EfficientNetLite0Trunk, load_imagenet_trunk
from deformviz.models.feature_grid import check_input_side
from deformviz.scenes.generator import SceneConfig

from .feature_cache import FeatureCache, build_feature_cache
from .losses import dense_losses, roi_losses
from .targets import dense_targets, sample_rois


@dataclass(frozen=True)
class TrainConfig:
    """One training run. The shipped weights come from the defaults (deformable=True); the
    plain twin is the same run with deformable=False."""

    seed: int = 0
    train_scenes: int = 6000
    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    deformable: bool = True
    # Side of the square training scenes, pixels (a multiple of 16). At 256 px the stage's rigid
    # receptive field (13 cells) already spans the largest objects (up to 14 cells) and little
    # asks the offsets to widen on them; at 384 px (up to 22 cells) they do (docs/MODEL_CARD.md).
    image_size: int = 384
    # Learning rate of the offset-predicting convs relative to the rest. Offsets start at zero
    # and are read as deviations from the rigid grid, so their step size sets how far the
    # sampling spreads. (No effect on the plain twin, which has no trainable offsets.)
    offset_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        check_input_side(self.image_size, EfficientNetLite0Trunk.stride, minimum=64)

    @property
    def name(self) -> str:
        return "deformable" if self.deformable else "plain"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"))


def load_or_build_cache(path: Path, config: TrainConfig, device: str) -> FeatureCache:
    """The trunk-feature cache of the training scenes, built once per seed and size."""
    size = (config.image_size, config.image_size)
    if path.is_file():
        cache = FeatureCache.load(path)
        if cache.seed == config.seed and len(cache) == config.train_scenes and cache.image_size == size:
            return cache
    with _progress() as progress:
        task = progress.add_task("caching trunk features", total=config.train_scenes, status="")
        cache = build_feature_cache(load_imagenet_trunk(), config.train_scenes, config.seed,
                                    config=SceneConfig(image_size=size), device=device,
                                    progress=lambda done, total: progress.update(task, completed=done))
    cache.save(path)
    return cache


def build_model(config: TrainConfig) -> DeformableDetector:
    """A fresh network with the ImageNet trunk, initialised deterministically from the seed."""
    torch.manual_seed(config.seed)
    model = DeformableDetector(DetectorConfig(deformable=config.deformable,
                                              training_image_size=config.image_size))
    model.trunk.load_state_dict(load_imagenet_trunk().state_dict())
    return model


def train(config: TrainConfig, run_dir: Path, device: str = "cpu", resume: bool = True,
          cache_path: Path | None = None) -> DeformableDetector:
    """Trains (or resumes) a run in `run_dir`; returns the trained model in eval mode.

    Writes run_dir/checkpoint.pt after every epoch (model, optimiser, epoch) and
    run_dir/log.jsonl with the mean losses per epoch.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(config).to(device)
    offsets = [p for n, p in model.named_parameters() if p.requires_grad and ".conv_offset." in n]
    others = [p for n, p in model.named_parameters() if p.requires_grad and ".conv_offset." not in n]
    groups = [{"params": others}]
    if offsets:
        groups.append({"params": offsets, "lr": config.learning_rate * config.offset_lr_scale})
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(config.train_scenes / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
    start_epoch = 0
    checkpoint_path = run_dir / "checkpoint.pt"
    if resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        # Through TrainConfig, so checkpoints older than a new field read it at its default;
        # those older than image_size were trained at 256 px.
        if TrainConfig(**{"image_size": 256, **state["config"]}) != config:
            raise ValueError(f"{checkpoint_path} belongs to another configuration; use a new run folder")
        model.load_state_dict(state["model"])
        start_epoch = state["epoch"] + 1
        if start_epoch >= config.epochs:
            return model.eval()  # already trained: nothing to cache or run
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])

    default_cache = f"cache-seed{config.seed}-{config.train_scenes}-{config.image_size}px.pt"
    cache = load_or_build_cache(cache_path or run_dir.parent / default_cache, config, device)
    grid = model.feature_grid(cache.image_size)
    num_classes = len(model.class_names)
    feature_size = tuple(cache.features.shape[-2:])
    model.train()
    with _progress() as progress:
        task = progress.add_task(f"training {config.name}", total=total_steps,
                                 completed=start_epoch * steps_per_epoch, status="")
        for epoch in range(start_epoch, config.epochs):
            # Every epoch's order and jitter depend only on (seed, epoch): resume reproduces them.
            generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
            order = torch.randperm(len(cache), generator=generator)
            sums: dict[str, float] = {}
            started = time.time()
            for step in range(steps_per_epoch):
                index = order[step * config.batch_size:(step + 1) * config.batch_size]
                features = cache.features[index].float().to(device)
                boxes = [cache.boxes[i] for i in index.tolist()]
                labels = [cache.labels[i] for i in index.tolist()]
                output = model.dense(features)
                targets = dense_targets(boxes, labels, num_classes, feature_size, grid)
                losses = dense_losses(output, _to(targets, device))
                samples = sample_rois(boxes, labels, num_classes, cache.image_size, generator)
                pool_rois = torch.cat([samples.rois[:, :1], grid.boxes_for_roi_pool(samples.rois[:, 1:])], 1)
                logits, deltas = model.roi_head(output.features, pool_rois.to(device))
                losses.update(roi_losses(logits, deltas, _to(samples, device), num_classes))
                loss = sum(losses.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + value.item()
                progress.update(task, advance=1, status=f"epoch {epoch + 1}/{config.epochs} loss {loss.item():.3f}")
            means = {k: v / steps_per_epoch for k, v in sums.items()}
            with open(run_dir / "log.jsonl", "a") as log:
                log.write(json.dumps({"epoch": epoch, "seconds": round(time.time() - started, 1), **means}) + "\n")
            _save_checkpoint(checkpoint_path, model, optimizer, schedule, epoch, config)
    return model.eval()


def _to(batch, device: str):
    """Moves every tensor field of a targets dataclass to `device`."""
    return type(batch)(**{k: v.to(device) for k, v in vars(batch).items()})


def _save_checkpoint(path: Path, model, optimizer, schedule, epoch: int, config: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(dict(model=model.state_dict(), optimizer=optimizer.state_dict(),
                    schedule=schedule.state_dict(), epoch=epoch, config=asdict(config)), tmp)
    tmp.replace(path)  # atomic: an interrupted save keeps the previous checkpoint
