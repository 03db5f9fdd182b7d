"""The result of a statistics run: readable tables and the exact sums behind them, as JSON.

One document serves as the final table, a shard's partial result and the state file of a run
in progress: it holds the settings (what must match for two documents to be combined), the
images done and failed, the exact accumulators, and the summary computed from them. Merging
adds the accumulators exactly, so shards merged give the same document, byte for byte, as one
run over all images (`merge_results`).

Layout (``"format": "deformviz.stats/1"``)::

    {"format": ..., "complete": true,
     "settings": {network, layers, thresholds_px2, containment, share_levels, annotations},
     "shard": {"index": i, "count": n}        # only in a shard's result
     "limit": N                               # only for --limit runs
     "images": {"selected": N, "done": n, "failed": {"<id>": "reason", ...}},
     "effective_dilation": {layer: {"rigid": d, "small": {"mean", "std", "units"}, ...}},
     "in_object_share": {"points_per_unit": P, "small": {"units", "deformed": {"mean", "std"},
                         "rigid": {...}}, ...},
     "exact": {"finished": [ids], "dilation": {...}, "share": {...}}}

An attention network's table (`settings.family` "attention"; settings add the layers' stages,
score_threshold and match_iou, and have no share_levels) has, instead of effective_dilation and
in_object_share, per layer label (see `attention_queries` for the quantities)::

     "attention": {layer: {"stage": "encoder" | "decoder", "left_out_queries": n,
                           "small": {"spread_px": {"mean", "std", "queries"},
                                     "spread_relative": {...}, "inside_share": {...}},
                           ..., "background": {"spread_px": {...}}}},
     "exact": {"finished": [ids], "attention": {...}}

A convolution table and an attention table never merge.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deformviz.errors import InputError

from .accumulators import DilationAccumulator, ShareAccumulator
from .attention_accumulators import AttentionAccumulator

__all__ = ["FORMAT", "StatsResult", "ResultError", "merge_results", "add_result", "read_result"]

FORMAT = "deformviz.stats/1"


class ResultError(InputError):
    """A results file that cannot be read, or results that cannot be combined; one line."""


@dataclass
class StatsResult:
    """Everything a run has measured so far (see the module doc).

    Attributes:
        settings: JSON-ready; two results combine only if these are equal.
        rigid: per layer, the effective dilation of its zero-offset filter (cells).
        selected: images this run (or shard) covers.
        finished: ids of images done or failed.
        failed: id -> reason, for images that could not be used.
        shard: (index, count), 1-based, or None for a whole run.
        limit: the --limit of a quick look, or None.
        attention: an attention network's table (then `dilation` has no layers, `share` and
            `rigid` are empty), or None for a network of deformable convolutions.
    """

    settings: dict[str, Any]
    rigid: dict[str, float]
    dilation: DilationAccumulator
    share: ShareAccumulator | None
    selected: int
    finished: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    shard: tuple[int, int] | None = None
    limit: int | None = None
    attention: AttentionAccumulator | None = None

    @property
    def family(self) -> str:
        """"attention" or "convolution": the kind of network and table."""
        return "convolution" if self.attention is None else "attention"

    @property
    def complete(self) -> bool:
        return len(self.finished) >= self.selected

    @property
    def done(self) -> int:
        """Images measured (finished and not failed)."""
        return len(self.finished) - len(self.failed)

    def to_json(self) -> dict[str, Any]:
        summary = self.dilation.summary()
        document: dict[str, Any] = {"format": FORMAT, "complete": self.complete, "settings": self.settings}
        if self.shard is not None:
            document["shard"] = {"index": self.shard[0], "count": self.shard[1]}
        if self.limit is not None:
            document["limit"] = self.limit
        document["images"] = {"selected": self.selected, "done": self.done,
                              "failed": {str(k): self.failed[k] for k in sorted(self.failed)}}
        if self.attention is not None:
            stages = dict(zip(self.settings["layers"], self.settings["stages"]))
            document["attention"] = {
                layer: {"stage": stages[layer], "left_out_queries": self.attention.left_out[layer],
                        **row} for layer, row in self.attention.summary().items()}
            document["exact"] = {"finished": sorted(self.finished),
                                 "attention": self.attention.to_json()}
            return document
        document["effective_dilation"] = {layer: {"rigid": self.rigid.get(layer), **summary[layer],
                                                  "ignored_units": self.dilation.ignored[layer]}
                                          for layer in self.dilation.layers}
        if self.share is not None:
            document["in_object_share"] = {"points_per_unit": self.share.points_per_unit,
                                           **self.share.summary()}
        document["exact"] = {"finished": sorted(self.finished), "dilation": self.dilation.to_json(),
                             "share": None if self.share is None else self.share.to_json()}
        return document

    def to_bytes(self) -> bytes:
        """The JSON document (stable: sorted keys, fixed layout; an empty class's NaN mean or
        std is written as null, so the file is standard JSON)."""
        return (json.dumps(_nan_to_none(self.to_json()), indent=1, sort_keys=True, allow_nan=False)
                + "\n").encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatsResult:
        layers = tuple(data["settings"]["layers"])
        exact = data["exact"]
        shard = data.get("shard")
        places = dict(selected=int(data["images"]["selected"]),
                      finished={int(i) for i in exact["finished"]},
                      failed={int(k): str(v) for k, v in data["images"]["failed"].items()},
                      shard=None if shard is None else (int(shard["index"]), int(shard["count"])),
                      limit=data.get("limit"))
        if data["settings"].get("family") == "attention":
            return cls(data["settings"], {}, DilationAccumulator(()), None, **places,
                       attention=AttentionAccumulator.from_json(layers, exact["attention"]))
        return cls(
            settings=data["settings"],
            rigid={layer: float(data["effective_dilation"][layer]["rigid"]) for layer in layers
                   if data["effective_dilation"][layer]["rigid"] is not None},
            dilation=DilationAccumulator.from_json(layers, exact["dilation"]),
            share=None if exact["share"] is None else ShareAccumulator.from_json(exact["share"]),
            **places,
        )


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def read_result(path: str | Path) -> StatsResult:
    """Read a document written by `StatsResult.to_bytes`, or ResultError (one line)."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ResultError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultError(f"{path}: is a folder, not a stats result") from None
    except OSError as error:
        raise ResultError(f"{path}: cannot read ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultError(f"{path}: not a deformviz stats result (format {FORMAT})")
    try:
        return StatsResult.from_json(data)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise ResultError(f"{path}: damaged stats result ({type(error).__name__}: {error})") from None


def merge_results(results: list[StatsResult], names: list[str] | None = None) -> StatsResult:
    """Combine the shards of one job into what a single run over all images gives.

    Every shard i/n of the job must be there exactly once, complete, with the same settings;
    no image may appear twice.

    Raises:
        ResultError: one line naming what does not fit.
    """
    names = names or [f"result {i + 1}" for i in range(len(results))]
    if not results:
        raise ResultError("nothing to merge")
    first = results[0]
    counts = {r.shard[1] if r.shard else 1 for r in results}
    for result, name in zip(results, names):
        if result.family != first.family:
            raise ResultError(f"{name} is a table of {result.family} layers and {names[0]} one of "
                              f"{first.family} layers; they cannot be merged")
    for result, name in zip(results, names):
        if result.settings != first.settings:
            raise ResultError(f"{name} was made with other settings than {names[0]} "
                              "(network, layers, thresholds, containment or annotations differ)")
        if result.limit is not None:
            raise ResultError(f"{name} is a --limit run; only full shards can be merged")
        if not result.complete:
            raise ResultError(f"{name} is unfinished ({len(result.finished)} of {result.selected} "
                              "images); rerun its command to finish it")
    if len(counts) != 1:
        raise ResultError(f"the results come from different shard counts ({sorted(counts)})")
    count = counts.pop()
    indices = sorted(r.shard[0] if r.shard else 1 for r in results)
    if indices != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(indices))
        twice = sorted({i for i in indices if indices.count(i) > 1})
        # A duplicate first: a shard given twice is also why the count comes up short.
        what = " and ".join([f"shards {twice} given twice (duplicates)"] * bool(twice)
                            + [f"shards {missing} missing"] * bool(missing))
        raise ResultError(f"cannot merge: {what} (of {count})")
    merged = StatsResult(first.settings, {}, DilationAccumulator(first.dilation.layers), None, selected=0,
                         attention=None if first.attention is None else
                         AttentionAccumulator(first.attention.layers))
    for result, name in zip(results, names):
        if merged.finished & result.finished:
            raise ResultError(f"{name} repeats images of another shard")
        add_result(merged, result)
        merged.selected += result.selected
    return merged


def add_result(total: StatsResult, part: StatsResult) -> None:
    """Add the images of `part` (disjoint from those of `total`, same settings) to `total`,
    exactly; `selected`, `shard` and `limit` of `total` stay as they are."""
    total.dilation.merge(part.dilation)
    if part.attention is not None:
        total.attention.merge(part.attention)  # type: ignore[union-attr]
    if not total.rigid:  # a part whose images all failed has not seen the layers
        total.rigid.update(part.rigid)
    if part.share is not None:
        if total.share is None:
            total.share = ShareAccumulator(part.share.points_per_unit)
        total.share.merge(part.share)
    total.finished |= part.finished
    total.failed.update(part.failed)
