"""DCNv4 on the dcnv3 operator: the packed offset_mask layout, its padding, its gradients."""

from __future__ import annotations

import pytest
import torch

from deformviz.ops import dcnv3, dcnv4, split_dcnv4_offset_mask
from deformviz.ops.dcnv4_layout import dcnv4_channels


def test_channel_count_is_three_per_point_rounded_up_to_eight():
    assert dcnv4_channels(4, 9) == 112  # 108 -> 112
    assert dcnv4_channels(1, 9) == 32  # 27 -> 32
    assert dcnv4_channels(8, 9) == 216  # already a multiple of 8


def pack(offset: torch.Tensor, mask: torch.Tensor, groups: int, taps: int) -> torch.Tensor:
    """DCNv4's layout built by hand: per group [K (dx, dy) pairs | K modulations], then padding
    filled with garbage that must be ignored."""
    pieces = []
    for g in range(groups):
        pieces.append(offset[..., g * 2 * taps:(g + 1) * 2 * taps])
        pieces.append(mask[..., g * taps:(g + 1) * taps])
    packed = torch.cat(pieces, -1)
    padding = dcnv4_channels(groups, taps) - packed.shape[-1]
    return torch.cat([packed, torch.full((*packed.shape[:-1], padding), 1e9, dtype=packed.dtype)], -1)


@pytest.mark.parametrize("groups,kernel", [(4, 3), (1, 3), (3, (3, 5))])
def test_dcnv4_is_dcnv3_on_the_unpacked_offsets_and_raw_modulation(groups, kernel):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    taps = kh * kw
    generator = torch.Generator().manual_seed(5)
    input = torch.randn(2, 6, 7, groups * 4, dtype=torch.float64, generator=generator)
    padding = (kh // 2, kw // 2)
    offset = torch.randn(2, 6, 7, groups * taps * 2, dtype=torch.float64, generator=generator)
    mask = torch.randn(2, 6, 7, groups * taps, dtype=torch.float64, generator=generator)  # raw
    offset_mask = pack(offset, mask, groups, taps).requires_grad_(True)
    split_offset, split_mask = split_dcnv4_offset_mask(offset_mask, groups, kernel)
    torch.testing.assert_close(split_offset, offset, rtol=0, atol=0)
    torch.testing.assert_close(split_mask, mask, rtol=0, atol=0)
    out = dcnv4(input, offset_mask, kernel, padding=padding, groups=groups, offset_scale=0.5)
    want = dcnv3(input, offset, mask, kernel, padding=padding, groups=groups, offset_scale=0.5)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    out.sum().backward()
    assert offset_mask.shape[-1] > 3 * groups * taps  # every case here has padding channels
    assert offset_mask.grad[..., 3 * groups * taps:].abs().max() == 0
    assert offset_mask.grad[..., :3 * groups * taps].abs().max() > 0


def test_a_wrong_channel_count_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"offset_mask must be \[N, Ho, Wo, 112\]") as error:
        dcnv4(torch.randn(1, 5, 5, 16), torch.zeros(1, 5, 5, 108), groups=4)
    assert "\n" not in str(error.value)
