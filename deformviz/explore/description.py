"""What the explore page carries: a small, explicit description of one image through a network.

The page computes every unit's sampling points itself, in JavaScript, from the offset maps
(see `assets/explore.js`, which mirrors `deformviz.geometry`), so the description holds the
inputs of that geometry and nothing precomputed per unit:

- the image (a data URI) and its size in original pixels;
- the model-input -> original-image resize (centre-aligned, `deformviz.imaging`);
- the chain of deformable layers, bottom to top, each with its geometry, its offset map
  (and DCNv2 mask), its map sizes and the grids that place its input and output cells on the
  model input (`MapGrid`: cell p is centred at model-input pixel p * stride + origin);
- the network's detections and their deformed RoI bins (where the network has an RoI head);
- what the `deformviz sample` command line needs to draw the same units as a paper figure;
- the figures' colours, read from `deformviz.plotting.style`.

Arrays travel as base64 of little-endian float32 (offsets and masks are float32 in the
network; the page reads them into float64 and computes in float64, as the Python API does).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deformviz import __version__
from deformviz.geometry import MapGrid

__all__ = ["ExploreLayer", "ExploreBox", "SampleCommand", "ExploreData",
           "encode_float32", "embeddable_json", "figure_colours", "FORMAT_VERSION"]

FORMAT_VERSION = 2  # 2: colours.levels is one colour per place in the chain


def encode_float32(array: np.ndarray) -> dict:
    """{"shape": [...], "float32": base64} of `array` as little-endian float32, C order."""
    values = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    return {"shape": list(values.shape), "float32": base64.b64encode(values.tobytes()).decode()}


def embeddable_json(data: dict) -> str:
    """`data` as compact JSON that is safe inside an HTML <script> element ('</' escaped).

    Example:
        >>> embeddable_json({"name": "</script>"})
        '{"name":"<\\\\/script>"}'
    """
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def figure_colours() -> dict:
    """The colours of the paper figures (deformviz.plotting.style), by role.

    "levels" lists the colour of each place in the chain from the top (level 1 = the top
    layer's points), the same whatever number of levels is shown.
    """
    from deformviz.plotting import style

    return {"levels": list(style.LAYER_COLORS), "unit": style.UNIT_COLOR,
            "box": style.BOX_COLOR, "bin": style.BIN_COLOR,
            "regular_bin": style.REGULAR_BIN_COLOR}


def _grid(grid: MapGrid) -> dict:
    return {"stride": [float(v) for v in grid.stride], "origin": [float(v) for v in grid.origin]}


@dataclass(frozen=True, eq=False)
class ExploreLayer:
    """One deformable layer of the chain.

    Attributes:
        name: the layer's qualified module name (e.g. backbone.layer4.0.conv2).
        label: its short name for people (res5a), shown on the page.
        kernel_size, stride, padding, dilation: (h, w) pairs, in the layer's input cells.
        offset_groups: G.
        input_size: (H, W) of the map the layer samples, cells.
        output_size: (Hout, Wout) of its output map, cells.
        input_grid: where its input cells sit on the model input (`MapGrid`: cell p is
            centred at model-input pixel p * stride + origin).
        output_grid: where its output cells sit on the model input.
        offset: [2 * G * K, Hout, Wout] offsets in input cells, (dy, dx) per tap k.
        mask: [G * K, Hout, Wout] DCNv2 modulation (after the sigmoid), or None.
    """

    name: str
    label: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    offset_groups: int
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    input_grid: MapGrid
    output_grid: MapGrid
    offset: np.ndarray
    mask: np.ndarray | None = None

    @classmethod
    def from_record(cls, record: Any, label: str) -> ExploreLayer:
        """A probe record (`deformviz.probe.DeformLayerRecord`) of image 0 as a page layer;
        offsets in float32 exactly as the operator received them."""
        g = record.geometry
        return cls(
            name=record.name, label=label, kernel_size=g.kernel_size, stride=g.stride,
            padding=g.padding, dilation=g.dilation, offset_groups=g.offset_groups,
            input_size=tuple(record.input_size), output_size=tuple(record.output_size),
            input_grid=record.input_grid, output_grid=record.output_grid,
            offset=record.offset[0].detach().float().cpu().numpy(),
            mask=None if record.mask is None else record.mask[0].detach().float().cpu().numpy())

    def __post_init__(self) -> None:
        taps = self.kernel_size[0] * self.kernel_size[1]
        expected = (2 * self.offset_groups * taps, *self.output_size)
        if tuple(self.offset.shape) != expected:
            raise ValueError(f"{self.name}: offset must be {expected}, got {self.offset.shape}")
        if self.mask is not None and tuple(self.mask.shape) != (self.offset_groups * taps,
                                                                *self.output_size):
            raise ValueError(f"{self.name}: mask shape {self.mask.shape} does not match")

    def to_dict(self) -> dict:
        return {
            "name": self.name, "label": self.label, "kernel_size": list(self.kernel_size),
            "stride": list(self.stride), "padding": list(self.padding), "dilation": list(self.dilation),
            "offset_groups": self.offset_groups, "input_size": list(self.input_size),
            "output_size": list(self.output_size), "input_grid": _grid(self.input_grid),
            "output_grid": _grid(self.output_grid), "offset": encode_float32(self.offset),
            "mask": None if self.mask is None else encode_float32(self.mask),
        }


@dataclass(frozen=True, eq=False)
class ExploreBox:
    """A detection: box (x1, y1, x2, y2) continuous original pixels, its class and score, and
    where the network has an RoI head, that head's class and score and its [k, k, 4] regular
    and deformed bins (continuous original pixels)."""

    box: tuple[float, float, float, float]
    label: str
    score: float
    head_label: str | None = None
    head_score: float | None = None
    regular_bins: np.ndarray | None = None
    deformed_bins: np.ndarray | None = None

    def to_dict(self) -> dict:
        def bins(array: np.ndarray | None) -> list | None:
            return None if array is None else np.asarray(array, dtype=np.float64).tolist()

        return {"box": [float(v) for v in self.box], "label": self.label,
                "score": float(self.score), "head_label": self.head_label,
                "head_score": None if self.head_score is None else float(self.head_score),
                "regular_bins": bins(self.regular_bins), "deformed_bins": bins(self.deformed_bins)}


@dataclass(frozen=True)
class SampleCommand:
    """The `deformviz sample` command line that draws the page's pinned units as a figure:
    `deformviz sample IMAGE [ARGUMENTS...] --at X Y ... --levels N`.

    Attributes:
        image: the image argument, as the user gave it to `explore`.
        arguments: the options that select the same network and model input (e.g.
            ("--model", "net.pth", "--size", "640")); empty for the defaults.
    """

    image: str
    arguments: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"program": "deformviz sample", "image": self.image,
                "arguments": list(self.arguments)}


@dataclass(frozen=True, eq=False)
class ExploreData:
    """Everything the explore page shows for one image (see the module docstring).

    Attributes:
        image_name: the image's name (file path) for the title.
        image_size: (H, W) original pixels.
        image_uri: the image as a data: URI (possibly downscaled for display; coordinates
            are always original pixels).
        model_name: the network's name or file.
        architecture: one line about the network.
        resized_size: (h, w) of the model input before any padding; resize = image_size /
            resized_size per axis.
        layers: the chain, bottom to top (the top layer's output cells are the units).
        levels: the number of levels shown at first (1..len(layers)).
        detections: the network's detections, best first (empty if it has no detector head).
        command: the `deformviz sample` command line's fixed part.
        colours: the figures' colours (`figure_colours()`).
        group: the offset group the page follows through every layer (0..G-1).
    """

    image_name: str
    image_size: tuple[int, int]
    image_uri: str
    model_name: str
    architecture: str
    resized_size: tuple[int, int]
    layers: tuple[ExploreLayer, ...]
    levels: int
    detections: tuple[ExploreBox, ...]
    command: SampleCommand
    colours: dict = field(default_factory=figure_colours)
    group: int = 0

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("the chain needs at least one deformable layer")
        if not 1 <= self.levels <= len(self.layers):
            raise ValueError(f"levels must be in 1..{len(self.layers)}, got {self.levels}")
        fewest = min(layer.offset_groups for layer in self.layers)
        if not (isinstance(self.group, int) and 0 <= self.group < fewest):
            raise ValueError(f"group must be in 0..{fewest - 1} (the chain's offset groups), "
                             f"got {self.group!r}")

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION, "deformviz": __version__,
            "image": {"name": self.image_name, "height": self.image_size[0],
                      "width": self.image_size[1], "uri": self.image_uri},
            "model": {"name": self.model_name, "architecture": self.architecture},
            "resized_size": list(self.resized_size),
            "layers": [layer.to_dict() for layer in self.layers],
            "levels": self.levels,
            "detections": [d.to_dict() for d in self.detections],
            "command": self.command.to_dict(),
            "colours": self.colours,
            "group": self.group,
        }

    def to_json(self) -> str:
        """Compact JSON; safe to embed in an HTML <script> element ('</' is escaped)."""
        return embeddable_json(self.to_dict())
