// deform_roi_pool forward and backward for any device: argument checks and buffers. The work is
// delegated to a `Kernels` policy with static members
//
//   roi_pool_forward(input, rois, offset, shape, output)
//   roi_pool_backward(grad_output, input, rois, offset, shape, grad_input, grad_offset)
//
// implemented once per device (cpu/, cuda/). Tensors handed to a policy are contiguous;
// `offset` is undefined when the op has none; grad_input is in the op-math type.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <optional>
#include <tuple>

#include "deformviz/deform_roi_pool.h"

namespace deformviz {

namespace detail {

inline DeformRoIPoolShape check_deform_roi_pool(const at::Tensor& input, const at::Tensor& rois,
                                                const std::optional<at::Tensor>& offset,
                                                int64_t pooled_h, int64_t pooled_w,
                                                double spatial_scale, int64_t sampling_ratio,
                                                double gamma) {
  TORCH_CHECK_VALUE(input.dim() == 4, "deform_roi_pool: input must be 4-D [batch, channels, height, width], got ",
                    input.sizes());
  TORCH_CHECK_VALUE(rois.dim() == 2 && rois.size(1) == 5,
                    "deform_roi_pool: rois must have shape [num_rois, 5] = (batch index, x1, y1, x2, y2), got ",
                    rois.sizes());
  TORCH_CHECK(rois.device() == input.device(), "deform_roi_pool: rois is on ", rois.device(),
              " but input is on ", input.device());
  TORCH_CHECK_TYPE(rois.scalar_type() == input.scalar_type(), "deform_roi_pool: rois has dtype ",
                   rois.scalar_type(), " but input has ", input.scalar_type());
  TORCH_CHECK_VALUE(pooled_h > 0 && pooled_w > 0, "deform_roi_pool: output_size must be positive, got (",
                    pooled_h, ", ", pooled_w, ")");
  TORCH_CHECK_VALUE(spatial_scale > 0, "deform_roi_pool: spatial_scale must be positive, got ",
                    spatial_scale);
  TORCH_CHECK_VALUE(sampling_ratio >= 0, "deform_roi_pool: sampling_ratio must be >= 0, got ",
                    sampling_ratio);
  DeformRoIPoolShape s;
  s.batch = input.size(0);
  s.channels = input.size(1);
  s.height = input.size(2);
  s.width = input.size(3);
  s.num_rois = rois.size(0);
  s.pooled_h = pooled_h;
  s.pooled_w = pooled_w;
  s.spatial_scale = spatial_scale;
  s.sampling_ratio = sampling_ratio;
  s.gamma = gamma;
  s.has_offset = offset.has_value();
  if (s.has_offset) {
    TORCH_CHECK(offset->device() == input.device(), "deform_roi_pool: offset is on ",
                offset->device(), " but input is on ", input.device());
    TORCH_CHECK_TYPE(offset->scalar_type() == input.scalar_type(),
                     "deform_roi_pool: offset has dtype ", offset->scalar_type(),
                     " but input has ", input.scalar_type());
    TORCH_CHECK_VALUE(offset->dim() == 4 && offset->size(0) == s.num_rois &&
                          offset->size(1) == 2 && offset->size(2) == pooled_h &&
                          offset->size(3) == pooled_w,
                      "deform_roi_pool: offset must have shape [", s.num_rois, ", 2, ", pooled_h,
                      ", ", pooled_w, "], got ", offset->sizes());
  }
  return s;
}

}  // namespace detail

template <typename Kernels>
at::Tensor deform_roi_pool_forward(const at::Tensor& input, const at::Tensor& rois,
                                   const std::optional<at::Tensor>& offset, int64_t pooled_h,
                                   int64_t pooled_w, double spatial_scale,
                                   int64_t sampling_ratio, double gamma) {
  const DeformRoIPoolShape s = detail::check_deform_roi_pool(
      input, rois, offset, pooled_h, pooled_w, spatial_scale, sampling_ratio, gamma);
  at::Tensor output = at::empty({s.num_rois, s.channels, pooled_h, pooled_w}, input.options());
  if (output.numel() == 0) return output;
  Kernels::roi_pool_forward(input.contiguous(), rois.contiguous(),
                            offset.has_value() ? offset->contiguous() : at::Tensor(), s, output);
  return output;
}

// Returns (grad_input, grad_offset); grad_offset is an empty [0] tensor without an offset.
template <typename Kernels>
std::tuple<at::Tensor, at::Tensor> deform_roi_pool_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& rois,
    const std::optional<at::Tensor>& offset, int64_t pooled_h, int64_t pooled_w,
    double spatial_scale, int64_t sampling_ratio, double gamma) {
  const DeformRoIPoolShape s = detail::check_deform_roi_pool(
      input, rois, offset, pooled_h, pooled_w, spatial_scale, sampling_ratio, gamma);
  TORCH_CHECK_VALUE(grad_output.sizes() == at::IntArrayRef({s.num_rois, s.channels, pooled_h, pooled_w}),
                    "deform_roi_pool backward: grad_output must have shape [", s.num_rois, ", ",
                    s.channels, ", ", pooled_h, ", ", pooled_w, "], got ", grad_output.sizes());
  at::Tensor grad_input =
      at::zeros(input.sizes(), input.options().dtype(at::toOpMathType(input.scalar_type())));
  at::Tensor grad_offset = offset.has_value() ? at::zeros(offset->sizes(), offset->options())
                                              : at::empty({0}, input.options());
  if (grad_output.numel() > 0) {
    Kernels::roi_pool_backward(grad_output.contiguous(), input.contiguous(), rois.contiguous(),
                               offset.has_value() ? offset->contiguous() : at::Tensor(), s,
                               grad_input, grad_offset);
  }
  return {grad_input.to(input.scalar_type()), grad_offset};
}

}  // namespace deformviz
