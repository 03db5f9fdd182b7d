"""What one call of a multi-scale deformable attention did: the typed record and the result.

A record holds, for every query of the call, the reference point (or box), the sampling
locations and the attention weights exactly as the attention's sampling core received them,
plus the levels' sizes, the padding and where each level's cells sit on the model input.

Frames (see ../shared/notes/deformable_families.md, A1): locations and reference points are
normalised to each level's *padded* map, (x, y), 0 and 1 being the map's outer edges (the
frame of `grid_sample(align_corners=False)`); `deformviz.geometry.attention_locations` turns
them into feature cells and pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch import Tensor

from deformviz.geometry import MapGrid

from .layer_index import LayerIndex
from .records import LayerRecord

__all__ = ["AttentionRecord", "AttentionProbeResult"]


@dataclass(frozen=True, eq=False)
class AttentionRecord(LayerRecord):
    """One call of a multi-scale deformable attention (B images, Q queries, M heads, L levels,
    K points per level): the `LayerRecord` family's member for deformable attention.

    Attributes:
        name, kind: see `LayerRecord` (kind: the adapter, "transformers", "mmcv", ...).
        stage: "encoder" or "decoder" (from the module name; else queries == value cells).
        index: the layer's index within its stage (the number after "layers"), or None.
        role: "self" (the queries are the map's own cells: encoder) or "cross" (decoder).
        reference_points: [B, Q, L or 1, 2] points or [B, Q, L or 1, 4] boxes (cx, cy, w, h),
            as the attention received them: normalised to each padded level map.
        locations: [B, Q, M, L, K, 2] (x, y) sampling locations, normalised to each padded
            level map, exactly as passed to the sampling core. K is the most points of any
            level; a level with fewer (`points_per_level`) is padded at the end with NaN.
        weights: [B, Q, M, L, K] attention weights as passed to the core (softmax over the
            points of all levels); 0 at padded points.
        spatial_shapes: (H_l, W_l) of each level, feature cells.
        padding_mask: [B, sum H_l W_l] bool, True where a cell is padding (normalised from the
            library's own polarity), or None when the call had no mask.
        valid_ratios: [B, L, 2] (x, y) share of each level's map that is image, computed
            from the padding mask the way the libraries do (valid rows / columns of the first
            column / row); all 1 without a mask.
        level_grids: where each level's cells sit on the model input (`MapGrid`, pixels), from
            the network's own conv arithmetic (or an even spread, noted in the result).
        points_per_level: K_l of each level (all K but in models such as D-FINE with a list
            of points per level); None: K on every level.
    """

    stage: str
    index: int | None
    role: str
    reference_points: Tensor
    locations: Tensor
    weights: Tensor
    spatial_shapes: tuple[tuple[int, int], ...]
    padding_mask: Tensor | None
    valid_ratios: Tensor
    level_grids: tuple[MapGrid, ...]
    points_per_level: tuple[int, ...] | None = None

    @property
    def batch(self) -> int:
        return int(self.locations.shape[0])

    @property
    def queries(self) -> int:
        return int(self.locations.shape[1])

    @property
    def heads(self) -> int:
        return int(self.locations.shape[2])

    @property
    def levels(self) -> int:
        return int(self.locations.shape[3])

    @property
    def points(self) -> int:
        """K, sampling points per head and level (the most of any level)."""
        return int(self.locations.shape[4])

    @property
    def level_points(self) -> tuple[int, ...]:
        """K_l, the sampling points per head of each level."""
        return self.points_per_level or (self.points,) * self.levels

    @property
    def level_start(self) -> tuple[int, ...]:
        """Index of each level's first cell in the flattened value sequence."""
        starts, total = [], 0
        for height, width in self.spatial_shapes:
            starts.append(total)
            total += height * width
        return tuple(starts)

    def describe(self) -> str:
        """One line for people: name, stage and sizes."""
        where = self.stage if self.index is None else f"{self.stage} {self.index}"
        return (f"{self.name} ({self.kind}, {where}, {self.role}): {self.queries} queries, "
                f"{self.heads} heads, {self.levels} levels x {_counts(self.level_points)} "
                "points")


def _counts(points: tuple[int, ...]) -> str:
    """"4" when every level has 4 points, else "(3, 6, 3)"."""
    return str(points[0]) if len(set(points)) == 1 else str(points)


@dataclass(frozen=True, eq=False)
class AttentionProbeResult:
    """Everything `probe_attention` recorded, in execution order.

    Attributes:
        records: one AttentionRecord per attention call.
        input_size: (H, W) of the model input tensor (padded batch), pixels.
        outputs: what the module returned, when asked to keep it.
        notes: remarks for people (levels whose grid had to be assumed, ...).
    """

    records: tuple[AttentionRecord, ...]
    input_size: tuple[int, int]
    outputs: object = None
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[AttentionRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def stage(self, stage: str) -> tuple[AttentionRecord, ...]:
        """The records of "encoder" or "decoder" calls, in execution order."""
        return tuple(r for r in self.records if r.stage == stage)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(record.name for record in self.records)

    @property
    def index(self) -> LayerIndex:
        """The attention calls as a `LayerIndex` (the one way layers are found by name):
        qualified names, unique dotted suffixes, and "encoder3" / "decoder5" (stage and
        index) as aliases; the default is the last decoder layer (else the last call)."""
        aliases = {f"{r.stage}{r.index}": r.name for r in self.records
                   if r.index is not None and "#" not in r.name}
        decoder = self.stage("decoder")
        default = (decoder[-1].name,) if decoder else self.names[-1:]
        return LayerIndex(self.names, aliases, default)

    def layer(self, name: str) -> AttentionRecord:
        """The record of the call named `name` (qualified name, suffix, "decoder5", or "#k"
        for a later call).

        Raises:
            LayerNameError: no call or several calls match.
        """
        return self.records[self.names.index(self.index.find(name))]

    def default_layer(self) -> AttentionRecord:
        """The call drawn when none is named: the last decoder layer, else the last call."""
        return self.layer(self.index.default_chain[-1])
