"""DCNv3, the core of InternImage's deformable convolution (Wang et al., CVPR 2023):

    out[n, y, x, g * Cg + c] = sum_p mask[n, y, x, g, p] * input_c(position of point p)

with G groups of Cg channels, each with its own offsets and modulation, and no weights (the
module's input_proj / output_proj Linear layers sit around it). DCNv4 differs only in the
modulation (no softmax) and in how offsets and modulation are packed: see `dcnv4_layout`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import reference_dcnv3
from ._checks import autocast_active, check_dcnv3, pair, run_upcast
from ._extension import operator_backend, warn_reference_fallback

__all__ = ["dcnv3"]


def dcnv3(input: Tensor, offset: Tensor, mask: Tensor, kernel_size: int | tuple[int, int] = 3,
          stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 1,
          dilation: int | tuple[int, int] = 1, groups: int | None = None,
          offset_scale: float = 1.0) -> Tensor:
    """The DCNv3 core on InternImage's channels-last layouts.

    Args:
        input (Tensor[N, H, W, C]): features, channels last; C = groups * Cg.
        offset (Tensor[N, Ho, Wo, groups * K * 2]): per group g and point p (K = kh * kw points),
            channels (g * K + p) * 2 and + 1 are dx and dy, in input cells. Point p = i * kh + j
            with i the x (column) index, the OUTER one, and j the y index: InternImage's order.
        mask (Tensor[N, Ho, Wo, groups * K]): the modulation of point p of group g at channel
            g * K + p, applied as given. InternImage's DCNv3 module applies a softmax over the K
            points of a group before its core; this operator takes the weights as the core uses
            them, so pass the softmax's output (DCNv4's raw modulation is passed as is).
        kernel_size, stride, padding, dilation: as for a convolution (int or (h, w)).
        groups: G; inferred from offset's last dimension when None.
        offset_scale: multiplies the regular grid as well as the offsets (InternImage's rule).

    Point p of output (y0, x0) samples, in input cells (0 = the first pixel's centre),
        x = x0 * stride_w - pad_w + cx + offset_scale * (i * dilation_w - cx + dx),
        cx = dilation_w * (kw - 1) // 2, and likewise y with j,
    bilinearly, with neighbours outside the input reading 0 (as `F.grid_sample` with zeros
    padding on the padded input, InternImage's formulation).

    Returns:
        Tensor[N, Ho, Wo, C], Ho = (H + 2 * pad_h - dilation_h * (kh - 1) - 1) // stride_h + 1.

    Dtypes: float64, float32, float16, bfloat16 (half types computed in float32), all arguments
    in the input's dtype; under torch.autocast any mix, computed in float32. `remove_center`
    (a variant of InternImage's module) is not supported.

    Example:
        >>> import torch
        >>> x = torch.randn(1, 8, 8, 16)
        >>> offset = torch.zeros(1, 8, 8, 4 * 9 * 2)
        >>> mask = torch.full((1, 8, 8, 4 * 9), 1 / 9)
        >>> dcnv3(x, offset, mask, groups=4).shape  # a 3x3 box filter per channel
        torch.Size([1, 8, 8, 16])
    """
    kernel = pair(kernel_size, "kernel_size")
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    if groups is None:
        groups = _infer_groups(offset, kernel)
    check_dcnv3(input, offset, mask, kernel, stride, padding, dilation, groups, offset_scale)
    args = (kernel, stride, padding, dilation, groups, float(offset_scale))
    if operator_backend(input.device) == "reference":
        warn_reference_fallback(input.device)
        if autocast_active(input):
            return run_upcast(reference_dcnv3.dcnv3, input, offset, mask, *args)
        return reference_dcnv3.dcnv3(input, offset, mask, *args)
    return torch.ops.deformviz.dcnv3(input, offset, mask, *kernel, *stride, *padding, *dilation,
                                     groups, float(offset_scale))


def _infer_groups(offset: Tensor, kernel: tuple[int, int]) -> int:
    per_group = 2 * kernel[0] * kernel[1]
    if not isinstance(offset, Tensor) or offset.dim() != 4 or offset.shape[-1] % per_group \
            or offset.shape[-1] == 0:
        shape = tuple(offset.shape) if isinstance(offset, Tensor) else type(offset).__name__
        raise ValueError(f"dcnv3: cannot infer groups: offset must be [N, Ho, Wo, groups * "
                         f"{per_group}] for a {kernel[0]}x{kernel[1]} kernel, got {shape}")
    return offset.shape[-1] // per_group
