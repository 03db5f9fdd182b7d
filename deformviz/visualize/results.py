"""What the visualizations compute: plain data in ORIGINAL image pixels, ready to plot or save.

Conventions (also written into saved data):
- points are (x, y) in pixel index coordinates: pixel (i, j) has its centre at (i, j), so an
  image drawn with matplotlib's default `imshow` extent lines up with them;
- boxes and bins are (x1, y1, x2, y2) in continuous coordinates: pixel i spans [i, i + 1), so
  a box around the whole W x H image is (0, 0, W, H). Draw them shifted by -0.5 over `imshow`.
- feature cells are (y, x) integer indices of the top deformable layer's output map.

Nothing here holds a tensor or a module: plotting and saving need only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deformviz.imaging import LoadedImage

__all__ = ["Detection", "LayerInfo", "Unit", "UnitSampling", "SamplingResult", "BoxBins", "RoIResult",
           "POINT_CONVENTION", "BOX_CONVENTION"]

POINT_CONVENTION = "(x, y) original-image pixel index coordinates; pixel (i, j) centred at (i, j)"
BOX_CONVENTION = "(x1, y1, x2, y2) continuous original-image pixels; pixel i spans [i, i + 1)"


@dataclass(frozen=True)
class Detection:
    """An object the network found: box (x1, y1, x2, y2) continuous original pixels, its class
    name and heat-map score."""

    box: tuple[float, float, float, float]
    label: str
    score: float

    @property
    def area(self) -> float:
        """Box area in original pixels squared."""
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass(frozen=True)
class LayerInfo:
    """One deformable layer of the traced chain, as plain facts (for figures and saved data).

    Attributes:
        name: qualified module name ("backbone.layer4.0.conv2", "stage.layers.0").
        label: short name for people ("res5a").
        kind: the probe adapter that recognised it ("deformviz", "torchvision", ...).
        kernel_size, stride, padding, dilation: (h, w), input cells.
        offset_groups: G.
        weight_groups: the convolution's groups.
        modulated: DCNv2 (True) or DCNv1.
        input_size, output_size: (h, w) cells of its input and output maps.
        input_stride, input_origin: (y, x) its input map's grid: cell p centred at model-input
            pixel p * stride + origin.
        output_stride, output_origin: the same for its output map.
        version: "DCNv1", "DCNv2", "DCNv3" or "DCNv4" (empty: from `modulated`).
        offset_scale: a DCNv3 / DCNv4 layer's offset_scale (its offsets, as recorded, already
            include the grid's stretch), else None.
    """

    name: str
    label: str
    kind: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    offset_groups: int
    weight_groups: int
    modulated: bool
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    input_stride: tuple[float, float]
    input_origin: tuple[float, float]
    output_stride: tuple[float, float]
    output_origin: tuple[float, float]
    version: str = ""
    offset_scale: float | None = None

    @classmethod
    def from_record(cls, record: Any, label: str) -> LayerInfo:
        """The plain facts of a probe record (`deformviz.probe.DeformLayerRecord`; read by
        attribute, so this module stays free of torch)."""
        g = record.geometry
        return cls(record.name, label, record.kind, g.kernel_size, g.stride, g.padding,
                   g.dilation, g.offset_groups, record.weight_groups, record.modulated,
                   record.input_size, record.output_size, record.input_grid.stride,
                   record.input_grid.origin, record.output_grid.stride,
                   record.output_grid.origin, record.version,
                   getattr(record, "offset_scale", None))


@dataclass(frozen=True)
class Unit:
    """An activation unit of the top deformable layer.

    Attributes:
        cell: (y, x) index in the top layer's output map (feature cells).
        pixel: (x, y) the cell's centre in original-image pixels (index coordinates).
        role: why it was picked: "requested", "grid"; from a detection head "background",
            "small object", "large object", "object", "peak" (a heat-map maximum); without one
            (`deformviz.visualize.headless_units`) "widest sampling", "tightest sampling",
            "typical sampling", "spread".
        detection: the object it sits on, when picked from a detection.
    """

    cell: tuple[int, int]
    pixel: tuple[float, float]
    role: str
    detection: Detection | None = None

    @property
    def title(self) -> str:
        """A short panel title, e.g. "small object: circle 0.83"."""
        if self.detection is None:
            return self.role if self.role not in ("requested", "grid") else (
                f"unit at ({self.pixel[0]:.0f}, {self.pixel[1]:.0f})")
        return f"{self.role}: {self.detection.label} {self.detection.score:.2f}"


@dataclass(frozen=True, eq=False)
class UnitSampling:
    """One unit's sampling points through the stacked deformable layers.

    Attributes:
        unit: the unit.
        points: per level l (1 = the top layer's own taps), [P_l, 2] (x, y) original pixels,
            P_l = K**l (9, 81, 729, ... for 3x3 kernels).
        parents: per level, [P_l] index of each point's parent in the level above (level 1:
            all 0, the unit).
        active: per level, [P_l] bool: the point and its ancestors read image data (a point
            under an out-of-map parent exists only geometrically).
        weights: per level, [P_l] product of DCNv2 masks along the path (1 for DCNv1).
        effective_dilation: the top-layer filter's effective dilation (paper Table 2), in
            input cells of the top layer (2.0 for the rigid dilation-2 filter).
        offset_group: the offset group followed in every layer of the chain.
    """

    unit: Unit
    points: tuple[np.ndarray, ...]
    parents: tuple[np.ndarray, ...]
    active: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    effective_dilation: float
    offset_group: int = 0

    @property
    def levels(self) -> int:
        return len(self.points)


@dataclass(frozen=True, eq=False)
class SamplingResult:
    """Sampling locations of one or more units of one image.

    Attributes:
        image: the original image the points refer to.
        model_name: the model's name or weights path.
        layer_names: the chain's deformable layers (short names), bottom to top; level l
            follows layer [-l].
        levels: levels traced per unit (1..len(layer_names)).
        samplings: one per unit and drawn offset group (unit by unit, its groups in order).
        detections: the network's detections on the image (original pixels).
        mode: "units" (one panel per unit) or "grid" (an overview of many units' taps).
        input_size: (h, w) of the model input the image was resized to.
        layers: the chain's layers with their geometry, bottom to top (as `layer_names`).
        preprocessing: how the image was prepared for the network (plain values), if known.
        offset_groups: the offset groups drawn (each unit has one sampling per group).
        network: what the loader found and assumed of the network (`inspect`'s facts), if any.
    """

    image: LoadedImage
    model_name: str
    layer_names: tuple[str, ...]
    levels: int
    samplings: tuple[UnitSampling, ...]
    detections: tuple[Detection, ...]
    mode: str
    input_size: tuple[int, int]
    layers: tuple[LayerInfo, ...] = ()
    preprocessing: dict | None = None
    offset_groups: tuple[int, ...] = (0,)
    network: dict | None = None

    @property
    def panels(self) -> tuple[tuple[UnitSampling, ...], ...]:
        """The samplings unit by unit: one tuple per unit, one sampling per drawn group."""
        per_unit = len(self.offset_groups)
        return tuple(self.samplings[i:i + per_unit]
                     for i in range(0, len(self.samplings), per_unit))

    @property
    def modulated(self) -> bool:
        """Whether any traced layer is DCNv2 (the points' `weights` are mask products)."""
        return any(layer.modulated for layer in self.layers)


@dataclass(frozen=True, eq=False)
class BoxBins:
    """One box through the deformable RoI head.

    Attributes:
        box: (x1, y1, x2, y2) continuous original pixels, as given (or detected).
        label: the head's most probable class ("background" included).
        score: its probability.
        regular: [k, k, 4] the undeformed bins (x1, y1, x2, y2), continuous original pixels;
            they tile `box`. Bin (i, j) is row i, column j.
        deformed: [k, k, 4] the bins shifted by their learned offsets.
        source: "given" or "detection".
        detection: the detection it came from, if any.
    """

    box: tuple[float, float, float, float]
    label: str
    score: float
    regular: np.ndarray
    deformed: np.ndarray
    source: str
    detection: Detection | None = None


@dataclass(frozen=True, eq=False)
class RoIResult:
    """Deformed RoI bins of boxes on one image.

    Attributes:
        image: the original image.
        model_name: the model's name or weights path.
        boxes: one entry per box.
        output_size: (k, k) bins per box.
        gamma: the offset scale of the pooling (0.1).
        input_size: (h, w) of the model input.
    """

    image: LoadedImage
    model_name: str
    boxes: tuple[BoxBins, ...]
    output_size: tuple[int, int]
    gamma: float
    input_size: tuple[int, int]
