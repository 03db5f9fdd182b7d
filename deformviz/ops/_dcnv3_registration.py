"""Fake (meta) kernel and autograd of the compiled dcnv3 operator, so it works under autograd,
torch.compile(fullgraph=True) and torch.export."""

from __future__ import annotations

import torch

from ._checks import conv_output_size


@torch.library.register_fake("deformviz::dcnv3")
def _dcnv3_fake(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                dilation_h, dilation_w, groups, offset_scale):
    out_h = conv_output_size(input.shape[1], kernel_h, stride_h, pad_h, dilation_h)
    out_w = conv_output_size(input.shape[2], kernel_w, stride_w, pad_w, dilation_w)
    return input.new_empty(input.shape[0], out_h, out_w, input.shape[3])


@torch.library.register_fake("deformviz::_dcnv3_backward")
def _dcnv3_backward_fake(grad_output, input, offset, mask, *geometry):
    return torch.empty_like(input), torch.empty_like(offset), torch.empty_like(mask)


def _dcnv3_setup_context(ctx, inputs, output) -> None:
    input, offset, mask, *geometry = inputs
    ctx.save_for_backward(input, offset, mask)
    ctx.geometry = geometry


def _dcnv3_backward(ctx, grad_output):
    input, offset, mask = ctx.saved_tensors
    grads = torch.ops.deformviz._dcnv3_backward(grad_output, input, offset, mask, *ctx.geometry)
    return tuple(grads) + (None,) * len(ctx.geometry)


torch.library.register_autograd("deformviz::dcnv3", _dcnv3_backward,
                                setup_context=_dcnv3_setup_context)
