// Host-side argument checks of the dcnv3 operator, shared by its CPU and CUDA registrations
// (the layouts are described in deformviz/dcnv3.h).
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <utility>

#include "deform_conv2d.h"
#include "deformviz/dcnv3.h"

namespace deformviz::detail {

inline Dcnv3Shape check_dcnv3(const at::Tensor& input, const at::Tensor& offset,
                              const at::Tensor& mask, int64_t kernel_h, int64_t kernel_w,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                              int64_t dilation_h, int64_t dilation_w, int64_t groups,
                              double offset_scale) {
  TORCH_CHECK_VALUE(input.dim() == 4, "dcnv3: input must be 4-D [batch, height, width, channels], got ",
                    input.sizes());
  TORCH_CHECK_VALUE(offset.dim() == 4, "dcnv3: offset must be 4-D [batch, out_h, out_w, groups * kernel_h * kernel_w * 2], got ",
                    offset.sizes());
  TORCH_CHECK_VALUE(mask.dim() == 4, "dcnv3: mask must be 4-D [batch, out_h, out_w, groups * kernel_h * kernel_w], got ",
                    mask.sizes());
  for (const auto& [t, name] : {std::pair{&offset, "offset"}, std::pair{&mask, "mask"}}) {
    TORCH_CHECK(t->device() == input.device(), "dcnv3: ", name, " is on ", t->device(),
                " but input is on ", input.device());
    TORCH_CHECK_TYPE(t->scalar_type() == input.scalar_type(), "dcnv3: ", name, " has dtype ",
                     t->scalar_type(), " but input has ", input.scalar_type());
  }
  TORCH_CHECK_VALUE(kernel_h > 0 && kernel_w > 0, "dcnv3: kernel must be at least 1x1, got (",
                    kernel_h, ", ", kernel_w, ")");
  TORCH_CHECK_VALUE(stride_h > 0 && stride_w > 0 && dilation_h > 0 && dilation_w > 0 &&
                        pad_h >= 0 && pad_w >= 0,
                    "dcnv3: stride and dilation must be positive and padding non-negative");
  TORCH_CHECK_VALUE(groups > 0 && input.size(3) % groups == 0, "dcnv3: groups = ", groups,
                    " must be positive and divide the input's ", input.size(3), " channels");
  TORCH_CHECK_VALUE(std::isfinite(offset_scale), "dcnv3: offset_scale must be finite, got ",
                    offset_scale);
  Dcnv3Shape s;
  s.batch = input.size(0);
  s.height = input.size(1);
  s.width = input.size(2);
  s.channels = input.size(3);
  s.groups = groups;
  s.kernel_h = kernel_h;
  s.kernel_w = kernel_w;
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.pad_h = pad_h;
  s.pad_w = pad_w;
  s.dilation_h = dilation_h;
  s.dilation_w = dilation_w;
  s.offset_scale = offset_scale;
  TORCH_CHECK_VALUE(s.height + 2 * pad_h >= kernel_extent(kernel_h, dilation_h) &&
                        s.width + 2 * pad_w >= kernel_extent(kernel_w, dilation_w),
                    "dcnv3: input of ", s.height, "x", s.width, " padded to ", s.height + 2 * pad_h,
                    "x", s.width + 2 * pad_w, " is smaller than the kernel's extent ",
                    kernel_extent(kernel_h, dilation_h), "x", kernel_extent(kernel_w, dilation_w));
  s.out_h = conv_out_size(s.height, kernel_h, stride_h, pad_h, dilation_h);
  s.out_w = conv_out_size(s.width, kernel_w, stride_w, pad_w, dilation_w);
  TORCH_CHECK_VALUE(offset.sizes() == at::IntArrayRef({s.batch, s.out_h, s.out_w, 2 * groups * s.taps()}),
                    "dcnv3: offset must have shape [", s.batch, ", ", s.out_h, ", ", s.out_w, ", ",
                    2 * groups * s.taps(), "], got ", offset.sizes());
  TORCH_CHECK_VALUE(mask.sizes() == at::IntArrayRef({s.batch, s.out_h, s.out_w, groups * s.taps()}),
                    "dcnv3: mask must have shape [", s.batch, ", ", s.out_h, ", ", s.out_w, ", ",
                    groups * s.taps(), "], got ", mask.sizes());
  return s;
}

inline void check_dcnv3_grad_output(const Dcnv3Shape& s, const at::Tensor& grad_output) {
  TORCH_CHECK_VALUE(grad_output.sizes() == at::IntArrayRef({s.batch, s.out_h, s.out_w, s.channels}),
                    "dcnv3 backward: grad_output must have shape [", s.batch, ", ", s.out_h, ", ",
                    s.out_w, ", ", s.channels, "], got ", grad_output.sizes());
}

}  // namespace deformviz::detail
