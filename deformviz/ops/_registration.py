"""Fake (meta) kernels and autograd for the compiled operators, so they work under autograd,
torch.compile(fullgraph=True) and torch.export."""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import conv_output_size


def _empty_unless_none(like: Tensor | None, fallback: Tensor) -> Tensor:
    return torch.empty_like(like) if like is not None else fallback.new_empty(0)


@torch.library.register_fake("deformviz::deform_conv2d")
def _deform_conv2d_fake(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
                        dilation_h, dilation_w):
    out_h = conv_output_size(input.shape[2], weight.shape[2], stride_h, pad_h, dilation_h)
    out_w = conv_output_size(input.shape[3], weight.shape[3], stride_w, pad_w, dilation_w)
    return input.new_empty(input.shape[0], weight.shape[0], out_h, out_w)


@torch.library.register_fake("deformviz::_deform_conv2d_backward")
def _deform_conv2d_backward_fake(grad_output, input, weight, offset, mask, bias, *geometry):
    return (torch.empty_like(input), torch.empty_like(weight), torch.empty_like(offset),
            _empty_unless_none(mask, input), _empty_unless_none(bias, input))


def _deform_conv2d_setup_context(ctx, inputs, output) -> None:
    input, weight, offset, mask, bias, *geometry = inputs
    ctx.save_for_backward(input, weight, offset, mask, bias)
    ctx.geometry = geometry


def _deform_conv2d_backward(ctx, grad_output):
    input, weight, offset, mask, bias = ctx.saved_tensors
    grad_input, grad_weight, grad_offset, grad_mask, grad_bias = (
        torch.ops.deformviz._deform_conv2d_backward(grad_output, input, weight, offset, mask,
                                                    bias, *ctx.geometry))
    return (grad_input, grad_weight, grad_offset,
            grad_mask if mask is not None else None,
            grad_bias if bias is not None else None) + (None,) * len(ctx.geometry)


@torch.library.register_fake("deformviz::deform_roi_pool")
def _deform_roi_pool_fake(input, rois, offset, pooled_h, pooled_w, spatial_scale,
                          sampling_ratio, gamma):
    return input.new_empty(rois.shape[0], input.shape[1], pooled_h, pooled_w)


@torch.library.register_fake("deformviz::_deform_roi_pool_backward")
def _deform_roi_pool_backward_fake(grad_output, input, rois, offset, *geometry):
    return torch.empty_like(input), _empty_unless_none(offset, input)


def _deform_roi_pool_setup_context(ctx, inputs, output) -> None:
    input, rois, offset, *geometry = inputs
    ctx.save_for_backward(input, rois, offset)
    ctx.geometry = geometry


def _deform_roi_pool_backward(ctx, grad_output):
    input, rois, offset = ctx.saved_tensors
    grad_input, grad_offset = torch.ops.deformviz._deform_roi_pool_backward(
        grad_output, input, rois, offset, *ctx.geometry)
    # RoIs are boxes, not learned: no gradient flows to them.
    return (grad_input, None, grad_offset if offset is not None else None) + (None,) * len(ctx.geometry)


torch.library.register_autograd("deformviz::deform_conv2d", _deform_conv2d_backward,
                                setup_context=_deform_conv2d_setup_context)
torch.library.register_autograd("deformviz::deform_roi_pool", _deform_roi_pool_backward,
                                setup_context=_deform_roi_pool_setup_context)
