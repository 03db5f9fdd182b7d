"""A statistics run over a dataset: streaming, resumable, splittable into shards.

- Streaming: images are decoded and prepared by DataLoader workers, one image at a time goes
  through the network, and only the accumulators (a few numbers per layer and class) and the
  set of finished image ids stay in memory.
- Resumable: every `checkpoint_every` images, and when interrupted (Ctrl-C is honoured after
  the image in flight, so the saved state is always consistent), the result so far is written
  atomically to the state file. Running again with the same settings continues from it
  without redoing finished images; the accumulators are exact (see `accumulators`), so the
  resumed run ends with exactly the numbers of an uninterrupted one.
- Shards: shard i of n takes every n-th image (by id) starting at the i-th; `merge_results`
  combines the n results into exactly what one run gives.
- Bad images: an image that cannot be used is reported through `on_failure`, recorded with
  its reason, counted, and the run goes on.
- Batches: `batch_size` images go through the network at once (GPUs), padded as the network's
  own batching pads them; each image's units are those it has alone (`padded_batch`).
- torchrun: `distributed.run_statistics_on_ranks` runs this loop on every rank.
- Attention networks (`attention_network.AttentionNetwork`, family "attention"): the same
  loop, state, shards and ranks; each image's counted queries (`attention_queries`) go into
  the result's `attention` table instead of the dilation and share. One image at a time.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from deformviz.atomic_files import atomic_write
from deformviz.errors import InputError
from deformviz.geometry import filter_effective_dilation

from .accumulators import DilationAccumulator, ShareAccumulator
from .attention_accumulators import AttentionAccumulator
from .coco import CocoDataset, CocoImage
from .image_statistics import image_statistics
from .loader import AnnotatedImages, FailedImage, PreparedImage, batches, image_loader
from .networks import ChainNetwork
from .padded_batch import own_chain, pad_batch
from .results import ResultError, StatsResult, read_result
from .size_classes import SizeThresholds

__all__ = ["StatsOptions", "run_statistics", "select_images", "write_result", "parse_shard",
           "check_batch_size"]


@dataclass(frozen=True)
class StatsOptions:
    """How units are grouped and how deep the in-object share looks.

    Attributes:
        thresholds: the size classes (COCO's by default).
        use_mask: units belong to objects by mask where present (COCO's convention, sizes by the
            annotation's area) instead of by box (the paper's, sizes by box area).
        share_levels: levels traced for the in-object share; None: the chain's layers, at most 3.
    """

    thresholds: SizeThresholds = field(default_factory=SizeThresholds.coco)
    use_mask: bool = False
    share_levels: int | None = None


def parse_shard(text: str) -> tuple[int, int]:
    """"i/n" -> (i, n) with 1 <= i <= n, else InputError (in the argument's words, "shard ...";
    the command line says "--shard ...")."""
    parts = text.split("/")
    try:
        index, count = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"shard {text!r}: expected i/n, such as 2/8") from None
    if not 1 <= index <= count:
        raise InputError(f"shard {text!r}: need 1 <= i <= n")
    return index, count


def select_images(dataset: CocoDataset, shard: tuple[int, int] | None = None,
                  limit: int | None = None) -> list[CocoImage]:
    """The images a run (or shard) covers: every n-th by id from the i-th, then the first `limit`."""
    images = list(dataset.images)
    if shard is not None:
        images = images[shard[0] - 1::shard[1]]
    return images if limit is None else images[:limit]


def _is_attention(network: ChainNetwork) -> bool:
    return getattr(network, "family", "convolution") == "attention"


def _settings(network: ChainNetwork, dataset: CocoDataset, options: StatsOptions) -> dict[str, Any]:
    settings = {
        "network": network.description,
        "layers": list(network.layer_names),
        "thresholds_px2": options.thresholds.to_json(),
        "containment": "mask" if options.use_mask else "box",
        "share_levels": options.share_levels,
        "annotations": {"file": dataset.annotation_file.name, "sha256": dataset.sha256,
                        "images": len(dataset.images)},
    }
    if _is_attention(network):
        del settings["share_levels"]
        settings.update(family="attention", stages=list(network.stages),  # type: ignore[attr-defined]
                        score_threshold=network.score_threshold,  # type: ignore[attr-defined]
                        match_iou=network.match_iou)  # type: ignore[attr-defined]
    return settings


def _fresh(settings: dict[str, Any], network: ChainNetwork, selected: int,
           shard: tuple[int, int] | None, limit: int | None) -> StatsResult:
    if _is_attention(network):
        return StatsResult(settings, {}, DilationAccumulator(()), None, selected, shard=shard,
                           limit=limit, attention=AttentionAccumulator(tuple(network.layer_names)))
    return StatsResult(settings, {}, DilationAccumulator(tuple(network.layer_names)), None,
                       selected, shard=shard, limit=limit)


def _resume(path: Path, fresh: StatsResult) -> StatsResult:
    saved = read_result(path)
    if (saved.settings, saved.shard, saved.limit, saved.selected) != \
            (fresh.settings, fresh.shard, fresh.limit, fresh.selected):
        raise ResultError(f"{path}: this state file belongs to a run with other settings (network, "
                          "layers, thresholds, annotations, shard or limit); delete it or rerun "
                          "that run's command")
    return saved


def write_result(result: StatsResult, path: Path) -> None:
    """Write `result` to `path` atomically (never a half-written file)."""
    payload = result.to_bytes()
    with atomic_write(path) as handle:
        handle.write(payload)


def check_batch_size(network: ChainNetwork, batch_size: int) -> None:
    """InputError (in the argument's words) for batches of an attention network: its images
    run one at a time (a padded batch would change its valid ratios and padding masks)."""
    if batch_size != 1 and _is_attention(network):
        raise InputError(f"batch size {batch_size}: attention networks run one image at a time")


@contextmanager
def _deferred_interrupt(signals: tuple[int, ...] = (signal.SIGINT,)) -> Iterator[list[bool]]:
    """Ctrl-C (and `signals`) sets a flag instead of raising, so the image in flight finishes
    consistently."""
    flag = [False]
    previous = {}
    try:
        for number in signals:
            previous[number] = signal.signal(number, lambda signum, frame: flag.__setitem__(0, True))
    except ValueError:  # not the main thread: no deferral possible
        pass
    try:
        yield flag
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _rigid(names, chain) -> dict[str, float]:
    return {name: float(filter_effective_dilation(layer.geometry.kernel_grid(torch.float64),
                                                  layer.geometry.kernel_size))
            for name, layer in zip(names, chain)}


def _measure(result: StatsResult, network: ChainNetwork, item, options: StatsOptions,
             chain=None) -> None:
    """Add one prepared image to `result` (its chain, if its batch already ran); ValueError if
    its numbers are unusable."""
    if result.attention is not None:
        values = network.measure(item, options.use_mask, options.thresholds)  # type: ignore[attr-defined]
        for layer, layer_values in values.items():
            result.attention.add(layer, layer_values)
        return
    if chain is None:
        with torch.no_grad():
            chain = network.chain(item.tensor)
    names = network.layer_names
    stats = image_statistics(chain, names, item.objects, options.thresholds, item.resize,
                             options.use_mask, options.share_levels)
    if not all(bool(torch.isfinite(v).all()) for v in stats.dilation.values()):
        raise ValueError("the network produced non-finite offsets")
    if not result.rigid:
        result.rigid.update(_rigid(names, chain))
    if result.share is None and stats.share_classes is not None:
        levels = min(len(chain), 3) if options.share_levels is None else options.share_levels
        result.share = ShareAccumulator(math.prod(layer.geometry.taps for layer in chain[len(chain) - levels:]))
    stats.add_to(result.dilation, result.share)


def _take(result: StatsResult, network: ChainNetwork, item, options: StatsOptions,
          on_failure: Callable[[int, str], None] | None, chain=None) -> None:
    """One item from the loader: measured, or recorded as failed with its reason."""
    reason = item.reason if isinstance(item, FailedImage) else None
    if reason is None:
        try:
            _measure(result, network, item, options, chain)
        except ValueError as error:  # non-finite offsets, an input the network refuses
            reason = f"image {item.image_id}: {error}"
    if reason is not None:
        result.failed[item.image_id] = reason
        if on_failure is not None:
            on_failure(item.image_id, reason)
    result.finished.add(item.image_id)


def _take_batch(result: StatsResult, network: ChainNetwork, items: list, options: StatsOptions,
                on_failure: Callable[[int, str], None] | None) -> None:
    """The items of one batch (`loader.batches`): one network pass for all, padded together
    (`padded_batch`), then each as `_take` with its chain cut to its own maps. An image whose
    own maps the batch cannot give, and every image of a batch the network refuses, runs alone
    (so a failure lands on its image)."""
    chains: list = [None] * len(items)
    if len(items) > 1 and all(isinstance(item, PreparedImage) for item in items):
        try:
            with torch.no_grad():
                batched = network.chains(pad_batch([item.tensor for item in items], network.input_padding))
            chains = [own_chain(chain, tuple(item.tensor.shape[-2:])) for chain, item in zip(batched, items)]
        except ValueError:
            pass
    for item, chain in zip(items, chains):
        _take(result, network, item, options, on_failure, chain)


def run_statistics(network: ChainNetwork, dataset: CocoDataset, options: StatsOptions = StatsOptions(),
                   *, shard: tuple[int, int] | None = None, limit: int | None = None,
                   state_path: str | Path | None = None, checkpoint_every: int = 25, workers: int = 2,
                   batch_size: int = 1, progress: Callable[[int, int], None] | None = None,
                   on_failure: Callable[[int, str], None] | None = None,
                   on_image: Callable[[StatsResult], None] | None = None) -> StatsResult:
    """Measure Table 2 over `dataset` (or its shard), resuming from `state_path` if it exists.

    Args:
        network: the chain network (see `networks`), or an attention network
            (`attention_network.AttentionNetwork`: the result's `attention` table).
        dataset: the checked annotations (`read_coco`).
        options: size classes, containment, share depth.
        shard: (i, n), 1-based, or None for all images.
        limit: only the first `limit` images (a quick look).
        state_path: where the state is saved while running (and read to resume); None: no state.
        checkpoint_every: images between state saves.
        workers: DataLoader worker processes decoding and preparing images (0: none).
        batch_size: images through the network at once, padded together as the network's own
            batching pads them. Units, classes and counts are those of one image at a time;
            effective dilations agree up to the rounding of batched arithmetic for images as
            large as their batch's padded input, and otherwise differ where the padding reaches
            the network's activations (see `padded_batch`). 1: byte-identical to no batching.
        progress: called with (images finished, images selected) after each image.
        on_failure: called with (image id, reason) for each image that cannot be used.
        on_image: called with the result after each image (tests use it to interrupt).
    Returns:
        The StatsResult; complete unless interrupted (KeyboardInterrupt propagates after the
        state is saved).
    """
    check_batch_size(network, batch_size)
    images = select_images(dataset, shard, limit)
    result = _fresh(_settings(network, dataset, options), network, len(images), shard, limit)
    state = None if state_path is None else Path(state_path)
    if state is not None and state.exists():
        result = _resume(state, result)
    todo = [image for image in images if image.id not in result.finished]
    if progress is not None:
        progress(len(result.finished), result.selected)
    if not todo:
        return result
    loader = image_loader(AnnotatedImages(todo, network.prepare, options.use_mask),
                          min(workers, len(todo)))
    since_save = 0
    try:
        with _deferred_interrupt() as interrupted:
            try:
                for batch in batches(loader, batch_size):
                    _take_batch(result, network, batch, options, on_failure)
                    since_save += len(batch)
                    if progress is not None:
                        progress(len(result.finished), result.selected)
                    if state is not None and since_save >= checkpoint_every:
                        write_result(result, state)
                        since_save = 0
                    if on_image is not None:
                        on_image(result)
                    if interrupted[0]:
                        raise KeyboardInterrupt
            except Exception:
                if interrupted[0]:  # Ctrl-C reached the loader first (a worker stopped)
                    raise KeyboardInterrupt from None
                raise
    except KeyboardInterrupt:
        if state is not None and since_save:
            write_result(result, state)
        raise
    return result
