"""What one deformable layer does to positions, and how feature cells sit on the image.

Two small frozen descriptions, both pure arithmetic on tensors of positions:

- `DeformLayerGeometry`: kernel size, stride, padding, dilation and offset groups of one
  deformable convolution; knows where its regular grid p0 + pn lies and how its offset and
  mask channels are laid out.
- `FeatureToImage`: feature cells <-> image pixels for one feature map (its stride and where
  cell 0 sits, the origin), optionally undoing a resize the CLI applied before the model.

Coordinate conventions used throughout `deformviz.geometry`:

- Points are (y, x), the order of the offset channels (dy before dx). Boxes are
  (x1, y1, x2, y2), the order of detectors.
- Point coordinates are *index* coordinates: feature cell (or pixel) i has its centre at i.
- Box coordinates follow the detectors' aligned-RoI convention: image boxes are *continuous*
  (pixel i spans [i, i + 1]) and become feature-cell coordinates by `box * scale - 0.5`.
  See `FeatureToImage.boxes_to_image`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DeformLayerGeometry", "FeatureToImage"]


def _int_pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def _float_pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive number or a pair of them, got {value!r}")
    return float(pair[0]), float(pair[1])


@dataclass(frozen=True)
class DeformLayerGeometry:
    """The sampling geometry of one deformable convolution.

    Integers given for the pair fields are expanded to (value, value); all pairs are
    (height, width). Offsets and masks of such a layer use the operator library's layout:
    offset [2 * G * K, Hout, Wout] with channel g*2K + 2k = dy and g*2K + 2k + 1 = dx for tap
    k = i * kw + j (row-major), mask [G * K, Hout, Wout] with channel g*K + k, all offsets in
    the layer's INPUT feature cells.

    Attributes:
        kernel_size: (kh, kw).
        stride: (stride_h, stride_w), input cells per output cell.
        padding: (pad_h, pad_w), input cells.
        dilation: (dil_h, dil_w), input cells between neighbouring taps.
        offset_groups: G, the number of independent offset sets.

    Example:
        >>> layer = DeformLayerGeometry.paper_res5()
        >>> layer.regular_locations(torch.tensor([5.0, 7.0]))[[0, 4, 8]].tolist()
        [[3.0, 5.0], [5.0, 7.0], [7.0, 9.0]]
    """

    kernel_size: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    offset_groups: int = 1

    def __post_init__(self) -> None:
        # Frozen, so normalise through object.__setattr__; ints are accepted for convenience.
        for name in ("kernel_size", "stride", "padding", "dilation"):
            object.__setattr__(self, name, _int_pair(getattr(self, name), name))
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"kernel_size, stride and dilation must be positive, got {self}")
        if min(self.padding) < 0:
            raise ValueError(f"padding must be non-negative, got {self.padding}")
        if not isinstance(self.offset_groups, int) or self.offset_groups < 1:
            raise ValueError(f"offset_groups must be a positive int, got {self.offset_groups!r}")

    @classmethod
    def paper_res5(cls, offset_groups: int = 1) -> DeformLayerGeometry:
        """The res5 layers of the paper: 3x3, stride 1, padding 2, dilation 2 (all at stride 16)."""
        return cls((3, 3), (1, 1), (2, 2), (2, 2), offset_groups)

    @property
    def taps(self) -> int:
        """K = kh * kw, the number of sampling points of one filter."""
        return self.kernel_size[0] * self.kernel_size[1]

    @property
    def offset_channels(self) -> int:
        """2 * G * K, the channels of this layer's offset tensor."""
        return 2 * self.offset_groups * self.taps

    @property
    def mask_channels(self) -> int:
        """G * K, the channels of this layer's (DCNv2) mask tensor."""
        return self.offset_groups * self.taps

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(Hout, Wout) of the output map for an input map of (H, W) cells."""
        return tuple(  # type: ignore[return-value]
            (size + 2 * pad - (dil * (kernel - 1) + 1)) // stride + 1
            for size, kernel, stride, pad, dil in zip(
                input_size, self.kernel_size, self.stride, self.padding, self.dilation)
        )

    def kernel_grid(self, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> Tensor:
        """The tap displacements (i * dil_h, j * dil_w) for k = i * kw + j.

        Returns:
            [K, 2] as (y, x), input cells, relative to the filter's top-left tap.
        """
        kh, kw = self.kernel_size
        rows = torch.arange(kh, dtype=dtype, device=device) * self.dilation[0]
        cols = torch.arange(kw, dtype=dtype, device=device) * self.dilation[1]
        return torch.stack([rows.repeat_interleave(kw), cols.repeat(kh)], dim=-1)

    def regular_locations(self, positions: Tensor) -> Tensor:
        """The regular grid p0 + pn of the filter at output positions `positions`.

        p0 + pn = (oy * stride_h - pad_h + i * dil_h, ox * stride_w - pad_w + j * dil_w). The
        positions may be fractional: the stacked-layer view places a filter at a fractional
        output position (see `deformviz.geometry.sampling_locations`).

        Args:
            positions: [..., 2] (y, x) in output cells of this layer.
        Returns:
            [..., K, 2] (y, x) in input cells of this layer, tap k = i * kw + j.
        """
        stride = positions.new_tensor(self.stride)
        padding = positions.new_tensor(self.padding)
        corner = positions * stride - padding
        return corner.unsqueeze(-2) + self.kernel_grid(positions.dtype, positions.device)

    def check_offset(self, offset: Tensor, name: str = "offset") -> None:
        """Raises ValueError unless `offset` is [2 * G * K, H, W] or [B, 2 * G * K, H, W]."""
        if offset.dim() not in (3, 4) or offset.shape[-3] != self.offset_channels:
            raise ValueError(f"{name} must be [{self.offset_channels}, H, W] or "
                             f"[B, {self.offset_channels}, H, W] for {self}, got "
                             f"{tuple(offset.shape)}")

    def check_mask(self, mask: Tensor, offset: Tensor, name: str = "mask") -> None:
        """Raises ValueError unless `mask` is [(B,) G * K, H, W] matching `offset`."""
        expected = (*offset.shape[:-3], self.mask_channels, *offset.shape[-2:])
        if tuple(mask.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(mask.shape)}")


@dataclass(frozen=True)
class FeatureToImage:
    """Feature cells of one map <-> pixels of the original image.

    Two steps, in index coordinates (pixel or cell i has its centre at i):

    1. feature cell p -> model-input pixel q = p * stride + origin, where `origin` is the
       model-input pixel on which cell 0 is centred. The usual convention, a cell centred on
       the stride x stride block it summarises, is origin = (stride - 1) / 2 (the default), so
       q = (p + 0.5) * stride - 0.5. Networks with TF 'SAME' padding sit elsewhere (the
       EfficientNet trunk: origin 15 at stride 16); build those with `from_grid`.
    2. model-input pixel q -> original-image pixel r = (q + 0.5) * resize - 0.5, where
       resize = original_size / resized_size per axis undoes a resize done before the model
       (the centre-aligned convention of image resampling).

    With resize = (1, 1) "image" means the model input.

    Attributes:
        stride: (stride_y, stride_x), model-input pixels per feature cell. A number is expanded.
        resize: (orig_h / resized_h, orig_w / resized_w). A number is expanded.
        origin: (origin_y, origin_x), the model-input pixel of cell 0's centre; a number is
            expanded; None (the default) means (stride - 1) / 2 per axis.

    Example:
        >>> FeatureToImage(16).to_image(torch.tensor([3.0, 5.0])).tolist()
        [55.5, 87.5]
        >>> FeatureToImage(16, origin=15).to_image(torch.tensor([3.0, 5.0])).tolist()
        [63.0, 95.0]
    """

    stride: tuple[float, float]
    resize: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _float_pair(self.stride, "stride"))
        object.__setattr__(self, "resize", _float_pair(self.resize, "resize"))
        origin = self.origin
        if origin is None:
            origin = ((self.stride[0] - 1) / 2, (self.stride[1] - 1) / 2)
        elif isinstance(origin, (int, float)):
            origin = (origin, origin)
        if len(origin) != 2 or not all(isinstance(v, (int, float)) for v in origin):
            raise ValueError(f"origin must be a number or a pair of numbers, got {self.origin!r}")
        object.__setattr__(self, "origin", (float(origin[0]), float(origin[1])))

    @classmethod
    def from_sizes(cls, stride: float | tuple[float, float], resized_size: tuple[int, int],
                   original_size: tuple[int, int],
                   origin: float | tuple[float, float] | None = None) -> FeatureToImage:
        """The mapping for a model that saw the image resized from `original_size` to
        `resized_size` (both (height, width) in pixels)."""
        resize = (original_size[0] / resized_size[0], original_size[1] / resized_size[1])
        return cls(stride, resize, origin)  # type: ignore[arg-type]

    @classmethod
    def from_grid(cls, grid: object, resized_size: tuple[int, int] | None = None,
                  original_size: tuple[int, int] | None = None) -> FeatureToImage:
        """The one way to build the mapping of a map's cells: its grid (a `MapGrid`, or anything
        with `stride` and `origin`), then the resize from `original_size` to `resized_size`
        ((height, width) in pixels; both or neither).

        Example:
            >>> from types import SimpleNamespace
            >>> grid = SimpleNamespace(stride=16, origin=15.0)
            >>> m = FeatureToImage.from_grid(grid, resized_size=(32, 64), original_size=(64, 64))
            >>> m.to_image(torch.tensor([1.0, 1.0])).tolist()
            [62.5, 31.0]
        """
        if (resized_size is None) != (original_size is None):
            raise ValueError("give both resized_size and original_size, or neither")
        stride, origin = getattr(grid, "stride"), getattr(grid, "origin")
        if resized_size is None:
            return cls(stride, origin=origin)
        return cls.from_sizes(stride, resized_size, original_size, origin)  # type: ignore[arg-type]

    @property
    def scale(self) -> tuple[float, float]:
        """(y, x) original-image pixels per feature cell."""
        return self.stride[0] * self.resize[0], self.stride[1] * self.resize[1]

    @property
    def shift(self) -> tuple[float, float]:
        """(y, x) model-input pixels by which cell centres sit past the usual convention:
        origin - (stride - 1) / 2 (0 for the default origin)."""
        assert self.origin is not None
        return (self.origin[0] - (self.stride[0] - 1) / 2,
                self.origin[1] - (self.stride[1] - 1) / 2)

    def to_image(self, points: Tensor) -> Tensor:
        """Feature-cell points -> original-image pixels.

        Args:
            points: [..., 2] (y, x) in feature cells (index coordinates).
        Returns:
            [..., 2] (y, x) in original-image pixels (index coordinates: pixel i's centre at i).
        """
        model_input = points * points.new_tensor(self.stride) + points.new_tensor(self.origin)
        return self.resized_to_original(model_input)

    def to_feature(self, points: Tensor) -> Tensor:
        """Original-image pixels -> feature cells; the inverse of `to_image`.

        Args:
            points: [..., 2] (y, x) in original-image pixels (index coordinates).
        Returns:
            [..., 2] (y, x) in feature cells, fractional.
        """
        model_input = (points + 0.5) / points.new_tensor(self.resize) - 0.5
        return (model_input - points.new_tensor(self.origin)) / points.new_tensor(self.stride)

    def resized_to_original(self, points: Tensor) -> Tensor:
        """Model-input pixels -> original-image pixels ((q + 0.5) * resize - 0.5).

        Args:
            points: [..., 2] (y, x) in model-input pixels (index coordinates).
        Returns:
            [..., 2] (y, x) in original-image pixels.
        """
        resize = points.new_tensor(self.resize)
        return (points + 0.5) * resize - 0.5

    def lengths_to_image(self, lengths: Tensor) -> Tensor:
        """Displacements (no alignment shift): [..., 2] (dy, dx) cells -> original pixels."""
        return lengths * lengths.new_tensor(self.scale)

    def boxes_to_image(self, boxes: Tensor) -> Tensor:
        """Boxes in aligned-RoI feature coordinates -> continuous original-image boxes.

        Detectors give boxes in continuous pixel coordinates (pixel i spans [i, i + 1]) and the
        aligned RoI operators map them to cells by `cell = box / stride - 0.5`, which assumes
        the default origin. For another origin the boxes handed to the operator must first be
        moved by -`shift` (what `MapGrid.boxes_for_roi_pool` does); this adds it back. The
        inverse, followed by the resize (continuous coordinates simply scale), is
        `box = ((cell + 0.5) * stride + shift) * resize`. Note this is 0.5 pixel right of /
        below `to_image` of the same numbers: boxes are edges in continuous coordinates, points
        are centres in index coordinates. To draw both over an image shown with pixel i centred
        at i, subtract 0.5 from the boxes.

        Args:
            boxes: [..., 4] (x1, y1, x2, y2) in feature cells (aligned-RoI coordinates).
        Returns:
            [..., 4] (x1, y1, x2, y2) in continuous original-image pixels.
        """
        (sy, sx), (ry, rx), (hy, hx) = self.stride, self.resize, self.shift
        stride = boxes.new_tensor([sx, sy, sx, sy])
        shift = boxes.new_tensor([hx, hy, hx, hy])
        resize = boxes.new_tensor([rx, ry, rx, ry])
        return ((boxes + 0.5) * stride + shift) * resize

    def boxes_to_feature(self, boxes: Tensor) -> Tensor:
        """Continuous original-image boxes -> aligned-RoI feature coordinates; the inverse of
        `boxes_to_image`.

        Args:
            boxes: [..., 4] (x1, y1, x2, y2) in continuous original-image pixels.
        Returns:
            [..., 4] (x1, y1, x2, y2) in feature cells.
        """
        (sy, sx), (ry, rx), (hy, hx) = self.stride, self.resize, self.shift
        stride = boxes.new_tensor([sx, sy, sx, sy])
        shift = boxes.new_tensor([hx, hy, hx, hy])
        resize = boxes.new_tensor([rx, ry, rx, ry])
        return (boxes / resize - shift) / stride - 0.5
