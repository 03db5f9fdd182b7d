"""The processes of a torch.distributed job (started by `torchrun`): who they are, which images
each takes, and how they exchange results.

`torchrun --nproc_per_node N -m deformviz stats ...` (with `--nnodes` and rendezvous flags for
several machines, or inside a SLURM allocation) starts one process per rank with RANK,
WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE in its environment; `Ranks.from_environment`
reads them. `join` starts the process group: NCCL with one GPU per process (cuda:LOCAL_RANK)
on CUDA, gloo on the CPU with the cores shared out between the processes of a machine. Every
collective has a timeout, so a rank that dies or hangs stops the others with `RankLost`
instead of a hang.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

from deformviz.errors import DeformvizError

from .coco import CocoImage

__all__ = ["Ranks", "RankLost", "join", "leave", "broadcast", "gather", "split_by_size", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 600.0  # longest wait for another rank at a meeting point (seconds)


class RankLost(DeformvizError):
    """Another rank died, hung past the timeout or could not be reached; one line."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job.

    Attributes:
        rank: 0 .. world - 1; rank 0 writes the outputs and shows progress.
        world: processes in the job, over all machines.
        local_rank: this process's index on its machine (its GPU).
        local_world: processes on this machine (they share its CPU cores).
    """

    rank: int
    world: int
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> Ranks | None:
        """The ranks torchrun (or any torch.distributed launcher) set, or None when this process
        runs alone (no WORLD_SIZE, or a world of one)."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        except ValueError:
            raise DeformvizError("RANK, WORLD_SIZE, LOCAL_RANK or LOCAL_WORLD_SIZE is not a number") from None
        if world <= 1:
            return None
        if not 0 <= rank < world or not 0 <= local_rank < local_world:
            raise DeformvizError(f"rank {rank} of {world} (local {local_rank} of {local_world}) is out of range")
        return cls(rank, world, local_rank, local_world)


def join(ranks: Ranks, device: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Start the process group; returns the device this rank runs on.

    Args:
        ranks: this process's place (`Ranks.from_environment`).
        device: "cuda" (each rank takes GPU LOCAL_RANK, NCCL) or "cpu" (gloo; the machine's
            cores shared out evenly between its ranks).
        timeout_s: how long a rank waits for the others at a meeting point.
    """
    import torch.distributed as dist

    if device.startswith("cuda"):
        if ranks.local_rank >= torch.cuda.device_count():
            raise DeformvizError(f"local rank {ranks.local_rank} has no GPU of its own "
                                 f"({torch.cuda.device_count()} visible); start at most that many "
                                 "processes per machine")
        torch.cuda.set_device(ranks.local_rank)
        device, backend = f"cuda:{ranks.local_rank}", "nccl"
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // ranks.local_world))
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return device


def leave(together: bool = False) -> None:
    """End the process group (if one was started).

    Args:
        together: the run finished on every rank: first wait for all of them, so that no rank
            tears its connections down while another still uses them (gloo can abort a process
            whose peer left mid-collective). False after an error: a lost rank would make the
            wait last the whole timeout.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if together:
        try:
            dist.barrier()
        except RuntimeError:  # another rank is gone already: nothing left to wait for
            pass
    dist.destroy_process_group()


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (pickled; our own processes only)."""
    import torch.distributed as dist

    box = [value]
    try:
        dist.broadcast_object_list(box, src=0)
    except RuntimeError as error:  # DistBackendError, gloo's "connection closed", timeouts
        raise RankLost(_lost(error)) from None
    return box[0]


def gather(value: Any, ranks: Ranks) -> list[Any] | None:
    """Every rank's `value`, in rank order, on rank 0 (None on the others)."""
    import torch.distributed as dist

    gathered: list[Any] | None = [None] * ranks.world if ranks.is_root else None
    try:
        dist.gather_object(value, gathered, dst=0)
    except RuntimeError as error:
        raise RankLost(_lost(error)) from None
    return gathered


def _lost(error: BaseException) -> str:
    detail = " ".join(str(error).split())[:200]
    return f"lost contact with the other ranks (one died, hung or was stopped): {detail}"


def split_by_size(images: Sequence[CocoImage], world: int) -> list[list[CocoImage]]:
    """The images of each rank: about the same number of pixels each, deterministically.

    Largest images first, each to the rank with the fewest pixels so far (then the fewest
    images, then the lowest rank); an image without an annotated size counts as the mean of
    the others. Each rank's images are returned in id order.
    """
    sizes = [None if image.size is None else image.size[0] * image.size[1] for image in images]
    known = [s for s in sizes if s is not None]
    fallback = sum(known) // len(known) if known else 1
    order = sorted(range(len(images)), key=lambda i: (-(sizes[i] or fallback), images[i].id))
    load = [(0, 0, rank) for rank in range(world)]
    shares: list[list[CocoImage]] = [[] for _ in range(world)]
    for index in order:
        pixels, count, rank = min(load)
        shares[rank].append(images[index])
        load[rank] = (pixels + (sizes[index] or fallback), count + 1, rank)
    return [sorted(share, key=lambda image: image.id) for share in shares]
