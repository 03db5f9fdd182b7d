"""Exact accumulation: any split of the images, in any order, gives the same bits."""

from __future__ import annotations

import math
import random

import torch

from deformviz.statistics.accumulators import DilationAccumulator, Moments, ShareAccumulator


def _images(seed: int, count: int = 40):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.rand(int(torch.randint(1, 300, (1,), generator=generator)), generator=generator) * 7,
             torch.randint(0, 5, (300,), generator=generator)) for _ in range(count)]


def test_any_split_and_order_gives_identical_sums():
    images = _images(0)
    whole = DilationAccumulator(("a",))
    for values, classes in images:
        whole.add("a", values, classes[: len(values)])
    shuffled = images[:]
    random.Random(1).shuffle(shuffled)
    parts = [DilationAccumulator(("a",)) for _ in range(3)]
    for index, (values, classes) in enumerate(shuffled):
        parts[index % 3].add("a", values, classes[: len(values)])
    merged = DilationAccumulator(("a",))
    for part in reversed(parts):
        merged.merge(part)
    assert merged.to_json() == whole.to_json()
    assert merged.summary() == whole.summary()


def test_mean_and_std_match_torch_on_all_values():
    images = _images(2)
    moments = Moments()
    for values, _ in images:
        moments.add_values(values)
    everything = torch.cat([v for v, _ in images]).double()
    assert moments.count == len(everything)
    assert math.isclose(moments.mean, float(everything.mean()), rel_tol=1e-14)
    assert math.isclose(moments.std, float(everything.std()), rel_tol=1e-12)


def test_json_round_trip_is_exact():
    accumulator = DilationAccumulator(("x", "y"))
    for values, classes in _images(3, 5):
        accumulator.add("y", values, classes[: len(values)])
    again = DilationAccumulator.from_json(("x", "y"), accumulator.to_json())
    assert again.to_json() == accumulator.to_json()
    assert math.isnan(again.summary()["x"]["small"]["mean"])


def test_share_counts_give_mean_and_spread_of_per_unit_shares():
    share = ShareAccumulator(points_per_unit=9)
    share.add(torch.tensor([0, 0, 2]), torch.tensor([9, 3, 0]), torch.tensor([1, 1, 9]))
    summary = share.summary()
    assert summary["small"]["units"] == 2 and summary["medium"]["units"] == 0
    assert summary["small"]["deformed"]["mean"] == 12 / 18
    per_unit = torch.tensor([1.0, 3 / 9], dtype=torch.float64)
    assert math.isclose(summary["small"]["deformed"]["std"], float(per_unit.std()), rel_tol=1e-12)
    assert summary["large"]["rigid"]["mean"] == 1.0 and math.isnan(summary["large"]["rigid"]["std"])
    assert ShareAccumulator.from_json(share.to_json()).summary()["small"] == summary["small"]
