"""DCNv4 (Xiong et al., CVPR 2024) on the dcnv3 operator.

DCNv4's core samples exactly as DCNv3's (the same grid, offset_scale and point order); it differs
in two things only, both outside the sampling:

* the modulation is not normalised (no softmax over the points), and
* offsets and modulation arrive packed in one tensor `offset_mask` [N, Ho, Wo, L]: for group g,
  channels g * 3K .. g * 3K + 2K are the K (dx, dy) pairs and the next K the modulation; the
  Linear layer that produces it is padded to L = ceil(3 * G * K / 8) * 8 channels, and channels
  3 * G * K .. L are ignored.

So DCNv4 is `dcnv3` after `split_dcnv4_offset_mask`, which checks that layout and returns views
in DCNv3's layout; gradients flow back into `offset_mask` through the views (zero for the padding
channels).
"""

from __future__ import annotations

from torch import Tensor

from ._checks import pair
from .dcnv3 import dcnv3

__all__ = ["dcnv4", "split_dcnv4_offset_mask", "dcnv4_channels"]


def dcnv4_channels(groups: int, taps: int) -> int:
    """Channels of DCNv4's offset_mask for `groups` groups of `taps` points: 3 * G * K rounded up
    to a multiple of 8."""
    return (3 * groups * taps + 7) // 8 * 8


def split_dcnv4_offset_mask(offset_mask: Tensor, groups: int,
                            kernel_size: int | tuple[int, int] = 3) -> tuple[Tensor, Tensor]:
    """DCNv4's packed offset_mask as dcnv3's (offset, mask).

    Args:
        offset_mask (Tensor[N, Ho, Wo, L]): L = `dcnv4_channels(groups, K)`, K = kh * kw.
        groups: G.
        kernel_size: int or (kh, kw).

    Returns:
        offset (Tensor[N, Ho, Wo, G * K * 2]) and mask (Tensor[N, Ho, Wo, G * K]), the raw
        modulation (DCNv4 applies no softmax).

    Example:
        >>> import torch
        >>> offset, mask = split_dcnv4_offset_mask(torch.zeros(1, 5, 5, 112), groups=4)
        >>> tuple(offset.shape), tuple(mask.shape)
        ((1, 5, 5, 72), (1, 5, 5, 36))
    """
    kernel = pair(kernel_size, "kernel_size")
    taps = kernel[0] * kernel[1]
    if not isinstance(groups, int) or groups <= 0:
        raise ValueError(f"dcnv4: groups must be a positive int, got {groups!r}")
    channels = dcnv4_channels(groups, taps)
    if not isinstance(offset_mask, Tensor) or offset_mask.dim() != 4 \
            or offset_mask.shape[-1] != channels:
        shape = tuple(offset_mask.shape) if isinstance(offset_mask, Tensor) else type(offset_mask).__name__
        raise ValueError(f"dcnv4: offset_mask must be [N, Ho, Wo, {channels}] (3 * groups * K = "
                         f"{3 * groups * taps} rounded up to a multiple of 8) for groups={groups} "
                         f"and a {kernel[0]}x{kernel[1]} kernel, got {shape}")
    packed = offset_mask[..., :3 * groups * taps].unflatten(-1, (groups, 3 * taps))
    offset = packed[..., :2 * taps].flatten(-2)
    mask = packed[..., 2 * taps:].flatten(-2)
    return offset, mask


def dcnv4(input: Tensor, offset_mask: Tensor, kernel_size: int | tuple[int, int] = 3,
          stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 1,
          dilation: int | tuple[int, int] = 1, groups: int = 1, offset_scale: float = 1.0
          ) -> Tensor:
    """The DCNv4 core: `dcnv3` on `split_dcnv4_offset_mask(offset_mask, groups, kernel_size)`.

    Args:
        input (Tensor[N, H, W, C]): features, channels last (DCNv4's module reshapes its
            [N, H * W, C] tokens to this).
        offset_mask (Tensor[N, Ho, Wo, L]): see `split_dcnv4_offset_mask`.
        other arguments: as for `dcnv3`.

    Returns:
        Tensor[N, Ho, Wo, C].

    Example:
        >>> import torch
        >>> dcnv4(torch.randn(1, 6, 6, 16), torch.zeros(1, 6, 6, 112), groups=4).shape
        torch.Size([1, 6, 6, 16])
    """
    offset, mask = split_dcnv4_offset_mask(offset_mask, groups, kernel_size)
    return dcnv3(input, offset, mask, kernel_size, stride, padding, dilation, groups, offset_scale)
