"""Pure-PyTorch DCNv3 cores: deformviz's reference, and InternImage's published formulation.

`dcnv3` is the float64 oracle's companion and the fallback when the compiled library cannot be
loaded: it samples with the kernels' own border rule and floor-based bilinear weights
(`reference.bilinear_zero_padded`), so values and gradients agree with the kernels everywhere.

`dcnv3_grid_sample` re-states the formulation of InternImage's `dcnv3_core_pytorch`
(classification/ops_dcnv3/functions/dcnv3_func.py): pad the input, express every sampling point
in the padded map's normalised coordinates and read it with `F.grid_sample(bilinear, zeros,
align_corners=False)`. It gives the same values (the padded border is zeros either way); only its
gradient at exactly integer positions on the border can differ. The tests use it to pin the
published semantics, the benchmark as the speed baseline. Written from the description, not
copied; unlike the published code it pads height and width each by their own padding (the
published `F.pad` call swaps them, which only matters when they differ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .reference import bilinear_zero_padded

__all__ = ["dcnv3", "dcnv3_grid_sample", "tap_grid"]


def tap_grid(kernel: tuple[int, int], dilation: tuple[int, int], device, dtype
             ) -> tuple[Tensor, Tensor]:
    """The regular grid of DCNv3's points relative to the kernel's centre, in input cells.

    Point p = i * kernel_h + j has i the x index (the outer one) and j the y index, InternImage's
    order; the centre is dilation * (kernel - 1) // 2 cells from the kernel's first tap.

    Returns:
        (gx, gy), each [kernel_h * kernel_w].
    """
    (kernel_h, kernel_w), (dilation_h, dilation_w) = kernel, dilation
    i = torch.arange(kernel_w, device=device, dtype=dtype).repeat_interleave(kernel_h)
    j = torch.arange(kernel_h, device=device, dtype=dtype).repeat(kernel_w)
    return (i * dilation_w - dilation_w * (kernel_w - 1) // 2,
            j * dilation_h - dilation_h * (kernel_h - 1) // 2)


def _centres(out_size: int, stride: int, padding: int, kernel: int, dilation: int, device, dtype
             ) -> Tensor:
    """Input-cell position of each output's kernel centre along one axis: [out_size]."""
    centre = dilation * (kernel - 1) // 2
    return torch.arange(out_size, device=device, dtype=dtype) * stride - padding + centre


def _sampling_positions(offset: Tensor, kernel, stride, padding, dilation, groups: int,
                        offset_scale: float) -> tuple[Tensor, Tensor]:
    """x and y of every point, [N, Ho, Wo, G, K] in cells of the unpadded input."""
    batch, out_h, out_w, _ = offset.shape
    taps = kernel[0] * kernel[1]
    gx, gy = tap_grid(kernel, dilation, offset.device, offset.dtype)
    dxy = offset.reshape(batch, out_h, out_w, groups, taps, 2)
    cx = _centres(out_w, stride[1], padding[1], kernel[1], dilation[1], offset.device, offset.dtype)
    cy = _centres(out_h, stride[0], padding[0], kernel[0], dilation[0], offset.device, offset.dtype)
    x = cx.view(1, 1, out_w, 1, 1) + offset_scale * (gx + dxy[..., 0])
    y = cy.view(1, out_h, 1, 1, 1) + offset_scale * (gy + dxy[..., 1])
    return x, y


def dcnv3(input: Tensor, offset: Tensor, mask: Tensor, kernel: tuple[int, int],
          stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
          groups: int, offset_scale: float) -> Tensor:
    """Reference DCNv3 core (arguments as `deformviz.ops.dcnv3`, already checked).

    Args:
        input: [N, H, W, C], C = groups * Cg.
        offset: [N, Ho, Wo, groups * K * 2], (dx, dy) per point, in input cells.
        mask: [N, Ho, Wo, groups * K], the modulation as used.
    Returns:
        [N, Ho, Wo, C].
    """
    batch, height, width, channels = input.shape
    _, out_h, out_w, _ = offset.shape
    taps = kernel[0] * kernel[1]
    per_group = channels // groups
    x, y = _sampling_positions(offset, kernel, stride, padding, dilation, groups, offset_scale)
    planes = input.permute(0, 3, 1, 2).reshape(batch * groups, per_group, height, width)

    def per_plane(t: Tensor) -> Tensor:  # [N, Ho, Wo, G, K] -> [N * G, Ho * Wo * K]
        return t.permute(0, 3, 1, 2, 4).reshape(batch * groups, out_h * out_w * taps)

    samples = bilinear_zero_padded(planes, per_plane(y), per_plane(x))
    samples = samples.reshape(batch, groups, per_group, out_h, out_w, taps)
    weights = mask.reshape(batch, out_h, out_w, groups, taps).permute(0, 3, 1, 2, 4)
    output = (samples * weights.unsqueeze(2)).sum(-1)  # [N, G, Cg, Ho, Wo]
    return output.reshape(batch, channels, out_h, out_w).permute(0, 2, 3, 1).contiguous()


def dcnv3_grid_sample(input: Tensor, offset: Tensor, mask: Tensor, kernel: tuple[int, int],
                      stride: tuple[int, int], padding: tuple[int, int],
                      dilation: tuple[int, int], groups: int, offset_scale: float) -> Tensor:
    """InternImage's published pure-PyTorch formulation (see the module docstring).

    Same arguments, shapes and result as `dcnv3`.
    """
    batch, _, _, channels = input.shape
    _, out_h, out_w, _ = offset.shape
    taps = kernel[0] * kernel[1]
    per_group = channels // groups
    padded = F.pad(input, (0, 0, padding[1], padding[1], padding[0], padding[0]))
    padded_h, padded_w = padded.shape[1:3]
    x, y = _sampling_positions(offset, kernel, stride, padding, dilation, groups, offset_scale)
    # Cell index in the padded map -> grid_sample's [-1, 1] with align_corners=False.
    grid_x = (x + padding[1] + 0.5) / padded_w * 2 - 1
    grid_y = (y + padding[0] + 0.5) / padded_h * 2 - 1
    grid = torch.stack((grid_x, grid_y), -1)  # [N, Ho, Wo, G, K, 2]
    grid = grid.permute(0, 3, 1, 2, 4, 5).reshape(batch * groups, out_h * out_w, taps, 2)
    planes = padded.permute(0, 3, 1, 2).reshape(batch * groups, per_group, padded_h, padded_w)
    samples = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)  # [N * G, Cg, Ho * Wo, K]
    weights = mask.reshape(batch, out_h * out_w, groups, taps).transpose(1, 2)
    output = (samples * weights.reshape(batch * groups, 1, out_h * out_w, taps)).sum(-1)
    return output.reshape(batch, channels, out_h * out_w).transpose(1, 2).reshape(
        batch, out_h, out_w, channels)
