"""Running sums for Table 2 that merge exactly, in any order.

Floating-point addition is not associative, so summing per-unit values in the order images
happen to arrive would make a run split into shards (or interrupted and resumed) differ from
one straight run in the last bits. Here each image contributes, per layer and class, its unit
count and the float64 sums of its values and squared values (computed for that image alone,
so they do not depend on which other images ran); across images these are added EXACTLY, as
rational numbers (`fractions.Fraction`, whose sums of binary floats are exact and
order-independent). Shares of sampling points are counts, added as Python integers. Means and
standard deviations are rounded to float64 once, at the end.

Memory does not grow with the dataset: a few numbers per layer and class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import torch
from torch import Tensor

from .size_classes import CLASSES, IGNORED

__all__ = ["Moments", "DilationAccumulator", "ShareAccumulator", "OBJECT_CLASSES"]

OBJECT_CLASSES = CLASSES[:3]  # small, medium, large: the classes that have an object


@dataclass
class Moments:
    """Exact count, sum and sum of squares of a set of values (see the module doc)."""

    count: int = 0
    total: Fraction = field(default_factory=Fraction)
    squares: Fraction = field(default_factory=Fraction)

    def add(self, count: int, total: float, squares: float) -> None:
        """Add one image's count and float64 sums (finite numbers)."""
        self.count += int(count)
        self.total += Fraction(total)
        self.squares += Fraction(squares)

    def add_values(self, values: Tensor) -> None:
        """Add one image's values ([n], any float dtype; summed in float64)."""
        if len(values):
            values = values.detach().to(torch.float64).cpu()
            self.add(len(values), float(values.sum()), float((values * values).sum()))

    def merge(self, other: Moments) -> None:
        self.count += other.count
        self.total += other.total
        self.squares += other.squares

    @property
    def mean(self) -> float:
        return float(self.total / self.count) if self.count else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (divides by count - 1, like torch.std)."""
        if self.count < 2:
            return math.nan
        variance = (self.count * self.squares - self.total ** 2) / (self.count * (self.count - 1))
        return math.sqrt(max(float(variance), 0.0))

    def to_json(self) -> list:
        return [self.count, str(self.total), str(self.squares)]

    @classmethod
    def from_json(cls, data: list) -> Moments:
        count, total, squares = data
        return cls(int(count), Fraction(total), Fraction(squares))


@dataclass
class DilationAccumulator:
    """Effective dilation per layer and class (CLASSES), plus units left out (crowd)."""

    layers: tuple[str, ...]
    moments: dict[str, list[Moments]] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for layer in self.layers:
            self.moments.setdefault(layer, [Moments() for _ in CLASSES])
            self.ignored.setdefault(layer, 0)

    def add(self, layer: str, values: Tensor, classes: Tensor) -> None:
        """One image's units of `layer`: values [U] (cells), classes [U] (CLASSES index or IGNORED)."""
        values = values.detach().reshape(-1).to(torch.float64).cpu()
        classes = classes.reshape(-1).cpu()
        if not torch.isfinite(values).all():
            raise ValueError(f"layer {layer} has non-finite offsets")
        for index, moments in enumerate(self.moments[layer]):
            moments.add_values(values[classes == index])
        self.ignored[layer] += int((classes == IGNORED).sum())

    def merge(self, other: DilationAccumulator) -> None:
        if other.layers != self.layers:
            raise ValueError(f"cannot merge layers {other.layers} into {self.layers}")
        for layer in self.layers:
            for mine, theirs in zip(self.moments[layer], other.moments[layer]):
                mine.merge(theirs)
            self.ignored[layer] += other.ignored[layer]

    def summary(self) -> dict[str, dict[str, dict[str, float | int]]]:
        """{layer: {class: {"mean", "std", "units"}}} (the shape of evaluate's Table 2)."""
        return {layer: {name: {"mean": m.mean, "std": m.std, "units": m.count}
                        for name, m in zip(CLASSES, self.moments[layer])}
                for layer in self.layers}

    def to_json(self) -> dict:
        return {layer: {"classes": {name: m.to_json() for name, m in zip(CLASSES, self.moments[layer])},
                        "ignored": self.ignored[layer]} for layer in self.layers}

    @classmethod
    def from_json(cls, layers: tuple[str, ...], data: dict) -> DilationAccumulator:
        return cls(layers, {layer: [Moments.from_json(data[layer]["classes"][name]) for name in CLASSES]
                            for layer in layers},
                   {layer: int(data[layer]["ignored"]) for layer in layers})


@dataclass
class _ShareCounts:
    units: int = 0
    deformed: int = 0  # sampling points inside the unit's object, over all units
    deformed_squares: int = 0  # sum over units of (points inside)^2, for the spread
    rigid: int = 0
    rigid_squares: int = 0

    def merge(self, other: _ShareCounts) -> None:
        for name in ("units", "deformed", "deformed_squares", "rigid", "rigid_squares"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _share_stats(units: int, inside: int, squares: int, points: int) -> dict[str, float]:
    """Mean and sample std over units of (points inside / points), exactly from the counts."""
    if units == 0:
        return {"mean": math.nan, "std": math.nan}
    mean = Fraction(inside, units * points)
    std = math.nan
    if units > 1:
        variance = Fraction(units * squares - inside * inside, units * (units - 1) * points * points)
        std = math.sqrt(max(float(variance), 0.0))
    return {"mean": float(mean), "std": std}


@dataclass
class ShareAccumulator:
    """Per object class, the share of each unit's deepest sampling points inside its object,
    for the learned (deformed) and the rigid (zero-offset) filter.

    Attributes:
        points_per_unit: sampling points per unit at the deepest level (9^levels for 3x3).
    """

    points_per_unit: int
    counts: dict[str, _ShareCounts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in OBJECT_CLASSES:
            self.counts.setdefault(name, _ShareCounts())

    def add(self, classes: Tensor, deformed: Tensor, rigid: Tensor) -> None:
        """One image: per unit on an object, its class [U] (0..2), and its points inside the
        object [U] (integers 0..points_per_unit) for the deformed and the rigid filter."""
        classes, deformed, rigid = (t.reshape(-1).to(torch.int64).cpu() for t in (classes, deformed, rigid))
        for index, name in enumerate(OBJECT_CLASSES):
            chosen = classes == index
            d, r = deformed[chosen], rigid[chosen]
            counts = self.counts[name]
            counts.units += int(chosen.sum())
            counts.deformed += int(d.sum())
            counts.deformed_squares += int((d * d).sum())
            counts.rigid += int(r.sum())
            counts.rigid_squares += int((r * r).sum())

    def merge(self, other: ShareAccumulator) -> None:
        if other.points_per_unit != self.points_per_unit:
            raise ValueError("cannot merge shares of different sampling depths")
        for name in OBJECT_CLASSES:
            self.counts[name].merge(other.counts[name])

    def summary(self) -> dict[str, dict]:
        """{class: {"units", "deformed": {"mean", "std"}, "rigid": {"mean", "std"}}}."""
        points = self.points_per_unit
        return {name: {"units": c.units,
                       "deformed": _share_stats(c.units, c.deformed, c.deformed_squares, points),
                       "rigid": _share_stats(c.units, c.rigid, c.rigid_squares, points)}
                for name, c in self.counts.items()}

    def to_json(self) -> dict:
        return {"points_per_unit": self.points_per_unit,
                "classes": {name: [c.units, c.deformed, c.deformed_squares, c.rigid, c.rigid_squares]
                            for name, c in self.counts.items()}}

    @classmethod
    def from_json(cls, data: dict) -> ShareAccumulator:
        return cls(int(data["points_per_unit"]),
                   {name: _ShareCounts(*(int(v) for v in data["classes"][name])) for name in OBJECT_CLASSES})
