"""A statistics run shared out over the ranks of a torch.distributed job (see `ranks`).

- Rank 0 reads the saved state (if any) and tells every rank which images are finished; the
  rest are split between the ranks by size (`ranks.split_by_size`). The state holds no rank
  numbers, so a run resumes on any number of processes, or alone (and a state saved by a run
  alone resumes under torchrun): the unfinished images are simply shared out again.
- Every rank measures its images exactly as a single process does (`run._take_batch`). Every
  `checkpoint_every` images of a rank, all ranks meet: rank 0 gathers their results so far,
  adds them exactly (`results.add_result`), writes the state, reports the other ranks' failed
  images and updates the progress with the global count. After the last meeting rank 0 holds
  the whole result: byte for byte what one process gives.
- Stopping: Ctrl-C or SIGTERM (what torchrun sends when another rank died) finishes the image
  in flight; a meeting that fails (a rank died, hung past the timeout) raises `RankLost`. Either
  way rank 0 saves its own images and the others' as of the last meeting.
"""

from __future__ import annotations

import itertools
import math
import signal
from collections.abc import Callable
from pathlib import Path

from .coco import CocoDataset
from .loader import AnnotatedImages, batches, image_loader
from .networks import ChainNetwork
from .ranks import Ranks, RankLost, broadcast, gather, split_by_size
from .results import ResultError, StatsResult, add_result
from .run import StatsOptions, _deferred_interrupt, _fresh, _resume, _settings, _take_batch, \
    check_batch_size, select_images, write_result

__all__ = ["run_statistics_on_ranks"]


def run_statistics_on_ranks(network: ChainNetwork, dataset: CocoDataset, ranks: Ranks,
                            options: StatsOptions = StatsOptions(), *, shard: tuple[int, int] | None = None,
                            limit: int | None = None, state_path: str | Path | None = None,
                            checkpoint_every: int = 25, workers: int = 2, batch_size: int = 1,
                            progress: Callable[[int, int], None] | None = None,
                            on_failure: Callable[[int, str], None] | None = None) -> StatsResult | None:
    """`run.run_statistics` on every rank of a started process group (`ranks.join`).

    Args:
        ranks: this process's place in the job.
        state_path: the state file; only rank 0 reads and writes it.
        progress, on_failure: called on rank 0 only, with the global count and every rank's
            failed images.
        (the rest as `run.run_statistics`)
    Returns:
        On rank 0 the complete StatsResult, on the others None.
    Raises:
        KeyboardInterrupt: Ctrl-C or SIGTERM, after rank 0 saved the state.
        RankLost: another rank could not be reached, after rank 0 saved the state.
        ResultError: (every rank) the saved state belongs to another run.
    """
    check_batch_size(network, batch_size)
    images = select_images(dataset, shard, limit)
    template = _fresh(_settings(network, dataset, options), network, len(images), shard, limit)
    state = None if state_path is None else Path(state_path)
    own, error = template, None
    if ranks.is_root and state is not None and state.exists():
        try:
            own = _resume(state, template)
        except ResultError as problem:
            error = str(problem)
    finished, error = broadcast((sorted(own.finished), error) if ranks.is_root else None)
    if error is not None:
        raise ResultError(error)
    done = set(finished)
    shares = split_by_size([image for image in images if image.id not in done], ranks.world)
    mine = shares[ranks.rank]
    rounds = math.ceil(max(len(share) for share in shares) / checkpoint_every)
    others: list[StatsResult] = []  # rank 0: the other ranks' results at the last meeting

    def whole() -> StatsResult:
        total = _fresh(template.settings, network, template.selected, shard, limit)
        for part in [own, *others]:
            add_result(total, part)
        return total

    if ranks.is_root and progress is not None:
        progress(len(own.finished), own.selected)
    items = iter(image_loader(AnnotatedImages(mine, network.prepare, options.use_mask),
                              min(workers, len(mine))) if mine else ())
    try:
        with _deferred_interrupt((signal.SIGINT, signal.SIGTERM)) as interrupted:
            for round_index in range(rounds):
                count = len(mine[round_index * checkpoint_every:(round_index + 1) * checkpoint_every])
                for batch in batches(itertools.islice(items, count), batch_size):
                    _take_batch(own, network, batch, options, on_failure if ranks.is_root else None)
                    if ranks.is_root and progress is not None:
                        progress(len(own.finished) + sum(len(o.finished) for o in others), own.selected)
                    if interrupted[0]:
                        raise KeyboardInterrupt
                parts = gather(own.to_json(), ranks)
                if ranks.is_root:
                    others = _meet(parts[1:], others, on_failure)
                    if state is not None:
                        write_result(whole(), state)
                    if progress is not None:
                        progress(len(own.finished) + sum(len(o.finished) for o in others), own.selected)
    except (KeyboardInterrupt, RankLost):
        if ranks.is_root and state is not None and len(whole().finished) > len(finished):
            write_result(whole(), state)
        raise
    return whole() if ranks.is_root else None


def _meet(documents: list, before: list[StatsResult],
          on_failure: Callable[[int, str], None] | None) -> list[StatsResult]:
    """The other ranks' results from their gathered documents; their new failures reported."""
    seen = set().union(*(r.failed for r in before)) if before else set()
    results = [StatsResult.from_json(document) for document in documents]
    for result in results:
        for image_id in sorted(set(result.failed) - seen):
            if on_failure is not None:
                on_failure(image_id, result.failed[image_id])
    return results

