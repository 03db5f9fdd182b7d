"""The record of one unit's sampling locations, level by level: what `trace_chain` and
`trace_sampling_locations` return (the algorithm and its wrapper both build on it).

Points are (y, x) in feature cells of the map each level samples; `to_image` maps them to
original-image pixels with one `FeatureToImage` per level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from .feature_to_image import FeatureToImage

__all__ = ["SamplingLocations"]


@dataclass(frozen=True, eq=False)
class SamplingLocations:
    """Sampling points of one top-layer unit, level by level (level 1 = the top layer's taps).

    All per-level tuples have one entry per level; entry l - 1 belongs to level l and has
    P_l = K_top * ... * K_(level l layer) points (9^l for 3x3 kernels).

    Attributes:
        unit: [2] (y, x) of the unit, in output cells of the top layer.
        points: per level [P_l, 2] (y, x) in feature cells of the map that level samples (the
            INPUT map of layer `layer_indices[l - 1]`).
        parents: per level [P_l] long, index of each point's parent in level l - 1 (all 0 for
            level 1, whose parent is the unit). Points are ordered parent-major, so
            parents[l - 1] == arange(P_(l-1)).repeat_interleave(K).
        taps: per level [P_l] long, the tap k = i * kw + j that produced the point.
        inside: per level [P_l] bool, the point itself reads data (DCNv2 rule on its map).
        active: per level [P_l] bool, the point and all its ancestors are inside.
        weights: per level [P_l], product of the DCNv2 masks along the path (1 without masks).
        map_sizes: per level (H, W) of the map the level samples, in cells.
        layer_indices: per level, the index into the bottom-to-top `layers` whose taps give it.
        modulated: whether any mask was used.
    """

    unit: Tensor
    points: tuple[Tensor, ...]
    parents: tuple[Tensor, ...]
    taps: tuple[Tensor, ...]
    inside: tuple[Tensor, ...]
    active: tuple[Tensor, ...]
    weights: tuple[Tensor, ...]
    map_sizes: tuple[tuple[int, int], ...]
    layer_indices: tuple[int, ...]
    modulated: bool

    @property
    def levels(self) -> int:
        """The number of levels computed."""
        return len(self.points)

    def to_image(self, mapping: FeatureToImage | Sequence[FeatureToImage]) -> list[Tensor]:
        """All levels' points in original-image pixels.

        Args:
            mapping: one FeatureToImage for every level (the paper's res5 maps all share
                stride 16), or one per level, level 1 first, describing the map that level
                samples.
        Returns:
            per level [P_l, 2] (y, x) in original-image pixels (index coordinates).
        """
        mappings = [mapping] * self.levels if isinstance(mapping, FeatureToImage) else list(mapping)
        if len(mappings) != self.levels:
            raise ValueError(f"need one mapping per level ({self.levels}), got {len(mappings)}")
        return [m.to_image(p) for m, p in zip(mappings, self.points)]

    def unit_to_image(self, mapping: FeatureToImage) -> Tensor:
        """The unit in original-image pixels; `mapping` describes the top layer's OUTPUT map.

        Returns:
            [2] (y, x) in original-image pixels.
        """
        return mapping.to_image(self.unit)
