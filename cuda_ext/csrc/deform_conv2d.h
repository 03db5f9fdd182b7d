// deform_conv2d's argument checks for every device, and the forward and backward of CUDA:
// batching into chunks and the GEMMs, with the sampling work delegated to a `Kernels` policy
// with static members
//
//   im2col(input, offset, mask, shape, columns)
//   col2im(grad_columns, offset, mask, shape, grad_input)       // grad_input in the op-math type
//   offset_mask_gradient(grad_columns, input, offset, mask, shape, grad_offset, grad_mask)
//
// (cuda/). The CPU has its own tiled driver (cpu/deform_conv2d_cpu.cpp). Tensors handed to a
// policy are contiguous and start at the chunk's first image; `mask` is undefined when the op
// has none.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <tuple>

#include "deformviz/deform_conv.h"

namespace deformviz {

namespace detail {

// Extent of a dilated kernel, in input cells.
inline int64_t kernel_extent(int64_t kernel, int64_t dilation) { return dilation * (kernel - 1) + 1; }

// Output size of a convolution whose padded input is at least the kernel's extent (checked).
inline int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                             int64_t dilation) {
  return (in + 2 * pad - kernel_extent(kernel, dilation)) / stride + 1;
}

// Number of convolution groups: channels / weight.size(1); no input channels is one group.
inline int64_t conv_groups(const DeformConvShape& s, const at::Tensor& weight) {
  return s.channels == 0 ? 1 : s.channels / weight.size(1);
}

inline DeformConvShape check_deform_conv2d(const at::Tensor& input, const at::Tensor& weight,
                                           const at::Tensor& offset,
                                           const std::optional<at::Tensor>& mask,
                                           const std::optional<at::Tensor>& bias,
                                           int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                           int64_t pad_w, int64_t dilation_h,
                                           int64_t dilation_w) {
  TORCH_CHECK_VALUE(input.dim() == 4, "deform_conv2d: input must be 4-D [batch, channels, height, width], got ",
                    input.sizes());
  TORCH_CHECK_VALUE(weight.dim() == 4, "deform_conv2d: weight must be 4-D [out_channels, in_channels / groups, kernel_h, kernel_w], got ",
                    weight.sizes());
  TORCH_CHECK_VALUE(offset.dim() == 4, "deform_conv2d: offset must be 4-D [batch, 2 * offset_groups * kernel_h * kernel_w, out_h, out_w], got ",
                    offset.sizes());
  TORCH_CHECK_VALUE(stride_h > 0 && stride_w > 0, "deform_conv2d: stride must be positive, got (",
                    stride_h, ", ", stride_w, ")");
  TORCH_CHECK_VALUE(pad_h >= 0 && pad_w >= 0, "deform_conv2d: padding must be non-negative, got (",
                    pad_h, ", ", pad_w, ")");
  TORCH_CHECK_VALUE(dilation_h > 0 && dilation_w > 0,
                    "deform_conv2d: dilation must be positive, got (", dilation_h, ", ",
                    dilation_w, ")");
  const auto check_like_input = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(t.device() == input.device(), "deform_conv2d: ", name, " is on ", t.device(),
                " but input is on ", input.device());
    TORCH_CHECK_TYPE(t.scalar_type() == input.scalar_type(), "deform_conv2d: ", name,
                     " has dtype ", t.scalar_type(), " but input has ", input.scalar_type());
  };
  check_like_input(weight, "weight");
  check_like_input(offset, "offset");
  TORCH_CHECK_VALUE(weight.size(2) > 0 && weight.size(3) > 0,
                    "deform_conv2d: weight must have a kernel of at least 1x1, got shape ",
                    weight.sizes());

  DeformConvShape s;
  s.batch = input.size(0);
  s.channels = input.size(1);
  s.height = input.size(2);
  s.width = input.size(3);
  s.kernel_h = weight.size(2);
  s.kernel_w = weight.size(3);
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.pad_h = pad_h;
  s.pad_w = pad_w;
  s.dilation_h = dilation_h;
  s.dilation_w = dilation_w;
  // As for F.conv2d: the padded input must hold the kernel at least once. An empty map with
  // enough padding is fine; every sample then falls outside it.
  TORCH_CHECK_VALUE(s.height + 2 * pad_h >= kernel_extent(s.kernel_h, dilation_h) &&
                        s.width + 2 * pad_w >= kernel_extent(s.kernel_w, dilation_w),
                    "deform_conv2d: input of ", s.height, "x", s.width, " padded to ",
                    s.height + 2 * pad_h, "x", s.width + 2 * pad_w,
                    " is smaller than the kernel's extent ", kernel_extent(s.kernel_h, dilation_h),
                    "x", kernel_extent(s.kernel_w, dilation_w));
  s.out_h = conv_out_size(s.height, s.kernel_h, stride_h, pad_h, dilation_h);
  s.out_w = conv_out_size(s.width, s.kernel_w, stride_w, pad_w, dilation_w);
  const int64_t in_per_group = weight.size(1);
  // No input channels (weight.size(1) = 0 too) is one group whose output is the bias.
  TORCH_CHECK_VALUE(s.channels == 0 ? in_per_group == 0
                                    : (in_per_group > 0 && s.channels % in_per_group == 0),
                    "deform_conv2d: weight.size(1) = ", in_per_group,
                    " must divide the input's channels ", s.channels);
  const int64_t groups = detail::conv_groups(s, weight);
  TORCH_CHECK_VALUE(weight.size(0) % groups == 0, "deform_conv2d: weight.size(0) = ",
                    weight.size(0), " must be divisible by groups = ", groups);
  const int64_t per_group_offsets = 2 * s.taps();
  TORCH_CHECK_VALUE(offset.size(1) > 0 && offset.size(1) % per_group_offsets == 0,
                    "deform_conv2d: offset.size(1) = ", offset.size(1),
                    " must be a positive multiple of 2 * kernel_h * kernel_w = ",
                    per_group_offsets);
  s.offset_groups = offset.size(1) / per_group_offsets;
  TORCH_CHECK_VALUE(s.channels % s.offset_groups == 0, "deform_conv2d: offset_groups = ",
                    s.offset_groups, " (from offset.size(1)) must divide the input's channels ",
                    s.channels);
  TORCH_CHECK_VALUE(offset.size(0) == s.batch && offset.size(2) == s.out_h &&
                        offset.size(3) == s.out_w,
                    "deform_conv2d: offset must have shape [", s.batch, ", ", offset.size(1),
                    ", ", s.out_h, ", ", s.out_w, "], got ", offset.sizes());
  s.has_mask = mask.has_value();
  if (s.has_mask) {
    check_like_input(*mask, "mask");
    TORCH_CHECK_VALUE(mask->dim() == 4 && mask->size(0) == s.batch &&
                          mask->size(1) == s.offset_groups * s.taps() &&
                          mask->size(2) == s.out_h && mask->size(3) == s.out_w,
                      "deform_conv2d: mask must have shape [", s.batch, ", ",
                      s.offset_groups * s.taps(), ", ", s.out_h, ", ", s.out_w, "], got ",
                      mask->sizes());
  }
  if (bias.has_value()) {
    check_like_input(*bias, "bias");
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == weight.size(0),
                      "deform_conv2d: bias must have shape [", weight.size(0), "], got ",
                      bias->sizes());
  }
  return s;
}

// Bytes a column buffer may take: on CUDA the buffer [channels * taps, chunk * positions] of a
// chunk of images, on the CPU one thread's tile [positions, channels * taps]. 256 MiB by
// default (the CPU caps its tiles at a cache-sized 256 positions anyway). Settable (from Python
// through deformviz._C, see deformviz.ops.column_budget) so tests can force several chunks or
// tiles on small inputs.
inline std::atomic<int64_t>& column_budget_bytes() {
  static std::atomic<int64_t> budget{int64_t(256) << 20};
  return budget;
}

// Images per chunk: as many as fit the column budget, at least one (a prime batch simply ends
// with a smaller chunk).
inline int64_t images_per_chunk(const DeformConvShape& s, int64_t element_size) {
  const int64_t per_image = std::max<int64_t>(1, s.channels * s.taps() * s.positions() * element_size);
  return std::clamp<int64_t>(column_budget_bytes().load() / per_image, 1, std::max<int64_t>(s.batch, 1));
}

inline at::Tensor optional_slice(const std::optional<at::Tensor>& t, int64_t start, int64_t n) {
  return t.has_value() ? t->narrow(0, start, n) : at::Tensor();
}

inline void check_grad_output(const DeformConvShape& s, const at::Tensor& grad_output,
                              int64_t out_channels) {
  TORCH_CHECK_VALUE(grad_output.sizes() == at::IntArrayRef({s.batch, out_channels, s.out_h, s.out_w}),
                    "deform_conv2d backward: grad_output must have shape [", s.batch, ", ",
                    out_channels, ", ", s.out_h, ", ", s.out_w, "], got ", grad_output.sizes());
}

// Sum of grad_output over batch and positions, accumulated in the op-math type; an empty [0]
// tensor when the op had no bias.
inline at::Tensor bias_gradient(const at::Tensor& grad_output, const at::Tensor& input,
                                const std::optional<at::Tensor>& bias) {
  if (!bias.has_value()) return at::empty({0}, input.options());
  return grad_output.sum({0, 2, 3}, false, at::toOpMathType(input.scalar_type())).to(bias->scalar_type());
}

}  // namespace detail

template <typename Kernels>
at::Tensor deform_conv2d_forward(const at::Tensor& input_, const at::Tensor& weight_,
                                 const at::Tensor& offset_,
                                 const std::optional<at::Tensor>& mask_,
                                 const std::optional<at::Tensor>& bias, int64_t stride_h,
                                 int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                 int64_t dilation_h, int64_t dilation_w) {
  const DeformConvShape full = detail::check_deform_conv2d(
      input_, weight_, offset_, mask_, bias, stride_h, stride_w, pad_h, pad_w, dilation_h,
      dilation_w);
  const at::Tensor input = input_.contiguous();
  const at::Tensor weight = weight_.contiguous();
  const at::Tensor offset = offset_.contiguous();
  const std::optional<at::Tensor> mask =
      mask_.has_value() ? std::optional<at::Tensor>(mask_->contiguous()) : std::nullopt;

  const int64_t out_channels = weight.size(0);
  const int64_t groups = detail::conv_groups(full, weight);
  at::Tensor output = at::empty({full.batch, out_channels, full.out_h, full.out_w}, input.options());
  // Weights as [groups, out / groups, in / groups * taps]: row c * taps + k of a group's
  // columns pairs with weight[o, c, i, j] for k = i * kernel_w + j.
  const at::Tensor weight_g = weight.view({groups, out_channels / groups, weight.size(1) * full.taps()});
  const int64_t chunk = detail::images_per_chunk(full, input.element_size());
  for (int64_t start = 0; start < full.batch; start += chunk) {
    DeformConvShape s = full;
    s.batch = std::min(chunk, full.batch - start);
    at::Tensor columns = at::empty({s.channels * s.taps(), s.column_count()}, input.options());
    Kernels::im2col(input.narrow(0, start, s.batch), offset.narrow(0, start, s.batch),
                    detail::optional_slice(mask, start, s.batch), s, columns);
    const at::Tensor product = at::bmm(weight_g, columns.view({groups, weight.size(1) * s.taps(), s.column_count()}));
    // [groups, out / groups, batch, positions] -> [batch, out, out_h, out_w]
    output.narrow(0, start, s.batch)
        .copy_(product.view({groups, out_channels / groups, s.batch, s.positions()})
                   .permute({2, 0, 1, 3})
                   .reshape({s.batch, out_channels, s.out_h, s.out_w}));
  }
  if (bias.has_value()) output.add_(bias->view({1, out_channels, 1, 1}));
  return output;
}

// Returns (grad_input, grad_weight, grad_offset, grad_mask, grad_bias); grad_mask and
// grad_bias are empty [0] tensors when the op had no mask or no bias.
template <typename Kernels>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& weight_,
    const at::Tensor& offset_, const std::optional<at::Tensor>& mask_,
    const std::optional<at::Tensor>& bias, int64_t stride_h, int64_t stride_w, int64_t pad_h,
    int64_t pad_w, int64_t dilation_h, int64_t dilation_w) {
  const DeformConvShape full = detail::check_deform_conv2d(
      input_, weight_, offset_, mask_, bias, stride_h, stride_w, pad_h, pad_w, dilation_h,
      dilation_w);
  const int64_t out_channels = weight_.size(0);
  detail::check_grad_output(full, grad_output_, out_channels);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor weight = weight_.contiguous();
  const at::Tensor offset = offset_.contiguous();
  const std::optional<at::Tensor> mask =
      mask_.has_value() ? std::optional<at::Tensor>(mask_->contiguous()) : std::nullopt;

  const int64_t groups = detail::conv_groups(full, weight);
  const at::ScalarType op_math_type = at::toOpMathType(input.scalar_type());
  const auto op_math = input.options().dtype(op_math_type);
  // The input gradient is scattered (many sampling points add into one pixel), so it is
  // accumulated in the op-math type and converted once at the end.
  at::Tensor grad_input = at::zeros(input.sizes(), op_math);
  at::Tensor grad_offset = at::zeros(offset.sizes(), offset.options());
  at::Tensor grad_mask = mask.has_value() ? at::zeros(mask->sizes(), mask->options())
                                          : at::empty({0}, input.options());
  at::Tensor grad_weight = at::zeros({groups, out_channels / groups, weight.size(1) * full.taps()}, op_math);
  const at::Tensor weight_g = weight.view({groups, out_channels / groups, weight.size(1) * full.taps()});

  const int64_t chunk = detail::images_per_chunk(full, input.element_size());
  for (int64_t start = 0; start < full.batch; start += chunk) {
    DeformConvShape s = full;
    s.batch = std::min(chunk, full.batch - start);
    const at::Tensor input_c = input.narrow(0, start, s.batch);
    const at::Tensor offset_c = offset.narrow(0, start, s.batch);
    const at::Tensor mask_c = detail::optional_slice(mask, start, s.batch);
    // [batch, out, out_h, out_w] -> [groups, out / groups, batch * positions]
    const at::Tensor grad_product =
        grad_output.narrow(0, start, s.batch)
            .view({s.batch, groups, out_channels / groups, s.positions()})
            .permute({1, 2, 0, 3})
            .reshape({groups, out_channels / groups, s.column_count()});
    const at::Tensor grad_columns =
        at::bmm(weight_g.transpose(1, 2), grad_product).view({s.channels * s.taps(), s.column_count()});
    at::Tensor grad_input_c = grad_input.narrow(0, start, s.batch);
    Kernels::col2im(grad_columns, offset_c, mask_c, s, grad_input_c);
    at::Tensor grad_offset_c = grad_offset.narrow(0, start, s.batch);
    at::Tensor grad_mask_c = mask.has_value() ? grad_mask.narrow(0, start, s.batch) : at::Tensor();
    Kernels::offset_mask_gradient(grad_columns, input_c, offset_c, mask_c, s, grad_offset_c,
                                  grad_mask_c);
    at::Tensor columns = at::empty({s.channels * s.taps(), s.column_count()}, input.options());
    Kernels::im2col(input_c, offset_c, mask_c, s, columns);
    // In the op-math type: a half-precision product would be rounded (or overflow past 65504)
    // chunk by chunk before the sum over chunks.
    grad_weight.add_(at::bmm(grad_product.to(op_math_type),
                             columns.view({groups, weight.size(1) * s.taps(), s.column_count()}).transpose(1, 2).to(op_math_type)));
  }
  at::Tensor grad_bias = detail::bias_gradient(grad_output, input, bias);
  return {grad_input.to(input.scalar_type()), grad_weight.view(weight.sizes()).to(weight.scalar_type()),
          grad_offset, grad_mask, grad_bias};
}

}  // namespace deformviz
