"""The record of one DCNv3 / DCNv4 layer call: a `DeformLayerRecord` plus what the operator
took beyond a plain deformable convolution.

Its `offset` and `mask` are in the layout of every DeformLayerRecord ([B, 2GK, Ho, Wo] (dy, dx)
per tap k = a * kw + b, [B, GK, Ho, Wo]), converted exactly from the operator's channels-last
(x, y) layout by `deformviz.geometry.dcnv3_offsets.dcnv3_as_deform`: offsets relative to the
unscaled lattice (they include the offset_scale's stretch of the grid), the modulation as the
core used it (DCNv3: after the softmax over the K points of a group; DCNv4: raw, may be
negative). `operator_inputs` gives back exactly what the operator received.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from deformviz.geometry.dcnv3_offsets import deform_as_dcnv3

from .records import DeformLayerRecord

__all__ = ["DCNv3LayerRecord"]


@dataclass(frozen=True, eq=False)
class DCNv3LayerRecord(DeformLayerRecord):
    """One call of a DCNv3 or DCNv4 module (see the module docstring for the layout).

    Attributes:
        offset_scale: the layer's offset_scale (scales the regular grid and the offsets).
        variant: "DCNv3" (softmax modulation) or "DCNv4" (raw modulation).
    """

    offset_scale: float = 1.0
    variant: str = "DCNv3"

    @property
    def version(self) -> str:
        return self.variant

    def operator_inputs(self) -> tuple[Tensor, Tensor]:
        """(offset [B, Ho, Wo, G * K * 2], mask [B, Ho, Wo, G * K]) as the operator took them
        (InternImage's point order and (x, y) pairs)."""
        g = self.geometry
        return deform_as_dcnv3(self.offset, self.mask, g.offset_groups, g.kernel_size,
                               g.dilation, self.offset_scale)
