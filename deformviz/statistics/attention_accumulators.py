"""The attention table's sums: per attention layer and class, the exact moments of each counted
query's spread (pixels, and relative to its object's size) and in-object share.

Each image adds, per layer, class and quantity, its query count and the float64 sums of its
values and squares (`Moments.add_values`, computed for that image alone), added across images
as exact rationals: the same table whatever the order of the images, the shards, the ranks or
the interruptions (see `accumulators`). Means and standard deviations are over queries (each
query's value being itself an attention-weighted mean over its points, `attention_queries`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .accumulators import OBJECT_CLASSES, Moments
from .attention_queries import QueryValues
from .size_classes import CLASSES

__all__ = ["QUANTITIES", "AttentionAccumulator"]

#: The quantities of a class; background has only the first (no object to measure against).
QUANTITIES = ("spread_px", "spread_relative", "inside_share")


def _quantities(name: str) -> tuple[str, ...]:
    return QUANTITIES if name in OBJECT_CLASSES else QUANTITIES[:1]


@dataclass
class AttentionAccumulator:
    """Per layer (labels, in execution order), class (CLASSES) and quantity (QUANTITIES): the
    exact moments over queries; plus per layer the queries left out."""

    layers: tuple[str, ...]
    moments: dict[str, dict[str, dict[str, Moments]]] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for layer in self.layers:
            self.moments.setdefault(layer, {name: {q: Moments() for q in _quantities(name)}
                                            for name in CLASSES})
            self.left_out.setdefault(layer, 0)

    def add(self, layer: str, values: QueryValues) -> None:
        """One image's counted queries of `layer`; NaN values (background's relative spread
        and share, objects of area 0) are not counted."""
        for index, name in enumerate(CLASSES):
            chosen = values.classes == index
            for quantity, moments in self.moments[layer][name].items():
                picked = getattr(values, quantity)[chosen].to(torch.float64)
                moments.add_values(picked[torch.isfinite(picked)])
        self.left_out[layer] += int(values.left_out)

    def merge(self, other: AttentionAccumulator) -> None:
        if other.layers != self.layers:
            raise ValueError(f"cannot merge layers {other.layers} into {self.layers}")
        for layer in self.layers:
            for name in CLASSES:
                for quantity, moments in self.moments[layer][name].items():
                    moments.merge(other.moments[layer][name][quantity])
            self.left_out[layer] += other.left_out[layer]

    def summary(self) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
        """{layer: {class: {quantity: {"mean", "std", "queries"}}}} (std over queries)."""
        return {layer: {name: {q: {"mean": m.mean, "std": m.std, "queries": m.count}
                               for q, m in self.moments[layer][name].items()}
                        for name in CLASSES}
                for layer in self.layers}

    def to_json(self) -> dict:
        return {layer: {"classes": {name: {q: m.to_json() for q, m in self.moments[layer][name].items()}
                                    for name in CLASSES},
                        "left_out": self.left_out[layer]} for layer in self.layers}

    @classmethod
    def from_json(cls, layers: tuple[str, ...], data: dict) -> AttentionAccumulator:
        return cls(layers,
                   {layer: {name: {q: Moments.from_json(data[layer]["classes"][name][q])
                                   for q in _quantities(name)} for name in CLASSES}
                    for layer in layers},
                   {layer: int(data[layer]["left_out"]) for layer in layers})
