"""What the explore page of a deformable-attention network carries (`AttentionExploreData`).

Unlike the convolution page, which recomputes every unit from offset maps, this page shows
queries whose points the Python API has already mapped to original-image pixels
(`deformviz.visualize.attention_sampling.attention_units`): the page only draws them. It holds

- the image (a data URI) and its size; the resize (original / resized pixels per axis) and
  where each level's cells sit on the model input (stride, origin), so that the page can find
  the encoder cell under the pointer exactly as `sample --at X Y --level L` does;
- the decoder queries of the detections (boxes, class names, scores), in every decoder
  layer (cheap: a few queries), as `QueryBlock`s;
- every cell (query) of the chosen levels of ONE encoder layer, as `QueryBlock`s;
- the `deformviz sample` command line's fixed part, and the figures' colours and markers.

Arrays travel as base64 of little-endian float32 (`encode_float32`): points are original-image
pixels (index coordinates), weights as the attention used them (after its softmax).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from deformviz import __version__
from deformviz.visualize.attention_results import AttentionUnit

from .description import SampleCommand, embeddable_json, encode_float32

__all__ = ["QueryBlock", "AttentionLayerBlocks", "AttentionExploreData", "attention_colours",
           "ATTENTION_FORMAT_VERSION"]

ATTENTION_FORMAT_VERSION = 1


def attention_colours() -> dict:
    """The attention figures' look (`deformviz.plotting.attention`): the colour map (64
    samples, '#rrggbb', light weights first), the level markers (matplotlib names, finest
    level first), the reference point's and the boxes' colours."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from deformviz.plotting.attention import COLORMAP, LEVEL_MARKERS
    from deformviz.plotting.style import BOX_COLOR, UNIT_COLOR

    samples = colormaps[COLORMAP](np.linspace(0.0, 1.0, 64))
    return {"colormap_name": COLORMAP, "colormap": [to_hex(c) for c in samples],
            "markers": list(LEVEL_MARKERS), "reference": UNIT_COLOR, "box": BOX_COLOR}


@dataclass(frozen=True, eq=False)
class QueryBlock:
    """N queries of one attention call in original-image pixels (M heads, L levels, K points).

    Attributes:
        queries: [N] the queries' indices in the call.
        references: [N, 2] (x, y) reference points, original pixels (index coordinates).
        points: [N, M, L, K, 2] (x, y) sampling locations, original pixels.
        weights: [N, M, L, K] attention weights (after the attention's softmax).
    """

    queries: np.ndarray
    references: np.ndarray
    points: np.ndarray
    weights: np.ndarray

    @classmethod
    def from_units(cls, units: Sequence[AttentionUnit]) -> QueryBlock:
        """From `AttentionUnit`s of one call (`attention_units(...).units`)."""
        return cls(np.array([u.query for u in units], dtype=np.int64),
                   np.array([u.reference for u in units], dtype=np.float64).reshape(-1, 2),
                   np.stack([u.points for u in units]), np.stack([u.weights for u in units]))

    def __post_init__(self) -> None:
        n = len(self.queries)
        if self.points.ndim != 5 or self.points.shape[0] != n or self.points.shape[-1] != 2:
            raise ValueError(f"points must be [{n}, M, L, K, 2], got {self.points.shape}")
        if self.weights.shape != self.points.shape[:-1]:
            raise ValueError(f"weights {self.weights.shape} do not match the points")
        if self.references.shape != (n, 2):
            raise ValueError(f"references must be [{n}, 2], got {self.references.shape}")

    @property
    def nbytes(self) -> int:
        """Bytes of float32 data the page carries for the block (before base64)."""
        return 4 * (self.points.size + self.weights.size + self.references.size)

    def to_dict(self) -> dict:
        return {"queries": self.queries.tolist(), "references": encode_float32(self.references),
                "points": encode_float32(self.points), "weights": encode_float32(self.weights)}


@dataclass(frozen=True)
class AttentionLayerBlocks:
    """One attention call and the queries the page carries of it.

    Attributes:
        name: the call's qualified name.
        label: what `sample --layer` takes for it ("decoder5", counted from 0) and the page
            shows.
        blocks: the queries: one block of detections' queries (decoder), or one block per
            embedded level, its cells in row-major order (encoder).
        levels: encoder: the level (0 = finest) of each block; decoder: empty.
    """

    name: str
    label: str
    blocks: tuple[QueryBlock, ...]
    levels: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "levels": list(self.levels),
                "blocks": [b.to_dict() for b in self.blocks]}


@dataclass(frozen=True, eq=False)
class AttentionExploreData:
    """Everything the attention explore page shows for one image (see the module docstring).

    Attributes:
        image_name: the image's name (file path) for the title.
        image_size: (H, W) original pixels.
        image_uri: the image as a data: URI (possibly downscaled for display).
        model_name, architecture: the network's name and one line about it.
        resized_size: (h, w) of the image inside the model input (before padding).
        resize: (y, x) original pixels per model-input pixel (`ModelInput.resize`).
        level_shapes: (H_l, W_l) of each level, feature cells (finest first).
        level_strides, level_origins: (y, x) of each level's cells on the model input:
            cell p is centred at model-input pixel p * stride + origin.
        detections: per detection (best first): {"query", "box" (x1, y1, x2, y2) continuous
            original pixels, "label", "score"}; the decoder blocks hold their queries in
            this order.
        decoder: the decoder calls (first to last), each with one block of the detections'
            queries; empty without detections.
        decoder_shown: index into `decoder` of the layer the page opens with.
        encoder: the encoder call the page carries, or None.
        score_threshold: the detections' minimum score (passed on to the command).
        command: the `deformviz sample` command line's fixed part.
        colours: `attention_colours()`.
    """

    image_name: str
    image_size: tuple[int, int]
    image_uri: str
    model_name: str
    architecture: str
    resized_size: tuple[int, int]
    resize: tuple[float, float]
    level_shapes: tuple[tuple[int, int], ...]
    level_strides: tuple[tuple[float, float], ...]
    level_origins: tuple[tuple[float, float], ...]
    detections: tuple[dict, ...]
    decoder: tuple[AttentionLayerBlocks, ...]
    decoder_shown: int
    encoder: AttentionLayerBlocks | None
    score_threshold: float
    command: SampleCommand
    colours: dict = field(default_factory=attention_colours)

    def __post_init__(self) -> None:
        if not self.decoder and self.encoder is None:
            raise ValueError("nothing to show: no detections' decoder queries and no encoder")
        if self.decoder and not 0 <= self.decoder_shown < len(self.decoder):
            raise ValueError(f"decoder_shown {self.decoder_shown} outside the decoder layers")
        for layer in self.decoder:
            if [int(q) for q in layer.blocks[0].queries] != [d["query"] for d in self.detections]:
                raise ValueError(f"{layer.name}: its queries are not the detections'")

    @property
    def nbytes(self) -> int:
        """Bytes of float32 query data (before base64)."""
        layers = [*self.decoder, *([self.encoder] if self.encoder else [])]
        return sum(b.nbytes for layer in layers for b in layer.blocks)

    def to_dict(self) -> dict:
        height, width = self.image_size
        return {
            "format": ATTENTION_FORMAT_VERSION, "kind": "attention", "deformviz": __version__,
            "image": {"name": self.image_name, "height": height, "width": width,
                      "uri": self.image_uri},
            "model": {"name": self.model_name, "architecture": self.architecture},
            "resized_size": list(self.resized_size),
            "resize": [float(v) for v in self.resize],
            "levels": [{"shape": list(s), "stride": [float(v) for v in st],
                        "origin": [float(v) for v in o]}
                       for s, st, o in zip(self.level_shapes, self.level_strides,
                                           self.level_origins)],
            "detections": [dict(d) for d in self.detections],
            "decoder": [layer.to_dict() for layer in self.decoder],
            "decoder_shown": self.decoder_shown,
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
            "score_threshold": self.score_threshold,
            "command": self.command.to_dict(), "colours": self.colours,
        }

    def to_json(self) -> str:
        """Compact JSON; safe to embed in an HTML <script> element ('</' is escaped)."""
        return embeddable_json(self.to_dict())
