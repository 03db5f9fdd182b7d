// CPU kernels of deform_conv2d, parallel over the machine's cores with at::parallel_for.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "../deform_conv2d.h"
#include "deformviz/deform_conv.h"
#include "kernel_support.h"

namespace deformviz::cpu {
namespace {

// Sampling points per task: enough work to amortise scheduling, small enough to balance.
constexpr int64_t kPointsPerTask = 256;
// Channels that share one computation of a sampling point's stencil when scattering gradients.
constexpr int64_t kChannelsPerSlice = 16;

struct CpuDeformConvKernels {
  static void im2col(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                     const DeformConvShape& s, at::Tensor& columns) {
    AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "deform_conv2d_im2col_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* off = offset.const_data_ptr<scalar_t>();
      const scalar_t* m = data_or_null<scalar_t>(mask);
      scalar_t* cols = columns.data_ptr<scalar_t>();
      const int64_t per_group = s.channels_per_offset_group();
      at::parallel_for(0, sampling_point_count(s), kPointsPerTask, [&](int64_t begin, int64_t end) {
        for (int64_t index = begin; index < end; ++index) {
          const SamplingPointIndex pt = sampling_point(s, index);
          im2col_point<Acc>(s, in, off, m, pt.b, pt.g, pt.k, pt.p, pt.g * per_group,
                            (pt.g + 1) * per_group, cols);
        }
      });
    });
  }

  // One task per (image, slice of channels of one offset group): each sampling point's stencil
  // is computed once per slice, and every grad_input plane still has a single writer.
  static void col2im(const at::Tensor& grad_columns, const at::Tensor& offset,
                     const at::Tensor& mask, const DeformConvShape& s, at::Tensor& grad_input) {
    AT_DISPATCH_FLOATING_TYPES(grad_columns.scalar_type(), "deform_conv2d_col2im_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* gcols = grad_columns.const_data_ptr<scalar_t>();
      const scalar_t* off = offset.const_data_ptr<scalar_t>();
      const scalar_t* m = data_or_null<scalar_t>(mask);
      Acc* gin = grad_input.data_ptr<Acc>();
      const int64_t per_group = s.channels_per_offset_group();
      const int64_t slices = (per_group + kChannelsPerSlice - 1) / kChannelsPerSlice;
      at::parallel_for(0, s.batch * s.offset_groups * slices, 1, [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
          const int64_t slice = task % slices;
          const int64_t g = (task / slices) % s.offset_groups;
          const int64_t b = task / (slices * s.offset_groups);
          const int64_t c_begin = g * per_group + slice * kChannelsPerSlice;
          const int64_t c_end = std::min(c_begin + kChannelsPerSlice, (g + 1) * per_group);
          for (int64_t k = 0; k < s.taps(); ++k) {
            for (int64_t p = 0; p < s.positions(); ++p) {
              col2im_point<Acc>(s, gcols, off, m, b, g, k, p, c_begin, c_end, gin, PlainAdd{});
            }
          }
        }
      });
    });
  }

  static void offset_mask_gradient(const at::Tensor& grad_columns, const at::Tensor& input,
                                   const at::Tensor& offset, const at::Tensor& mask,
                                   const DeformConvShape& s, at::Tensor& grad_offset,
                                   at::Tensor& grad_mask) {
    AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "deform_conv2d_offset_grad_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* gcols = grad_columns.const_data_ptr<scalar_t>();
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* off = offset.const_data_ptr<scalar_t>();
      const scalar_t* m = data_or_null<scalar_t>(mask);
      scalar_t* goff = grad_offset.data_ptr<scalar_t>();
      scalar_t* gmask = s.has_mask ? grad_mask.data_ptr<scalar_t>() : nullptr;
      const int64_t per_group = s.channels_per_offset_group();
      at::parallel_for(0, sampling_point_count(s), kPointsPerTask, [&](int64_t begin, int64_t end) {
        for (int64_t index = begin; index < end; ++index) {
          const SamplingPointIndex pt = sampling_point(s, index);
          Acc grad_dy, grad_dx, grad_m;
          offset_and_mask_gradient<Acc>(s, gcols, in, off, m, pt.b, pt.g, pt.k, pt.p,
                                        pt.g * per_group, (pt.g + 1) * per_group, grad_dy,
                                        grad_dx, grad_m);
          const int64_t at = s.offset_index(pt.b, pt.g, pt.k, pt.p);
          goff[at] = static_cast<scalar_t>(grad_dy);
          goff[at + s.positions()] = static_cast<scalar_t>(grad_dx);
          if (gmask != nullptr) gmask[s.mask_index(pt.b, pt.g, pt.k, pt.p)] = static_cast<scalar_t>(grad_m);
        }
      });
    });
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CPU, m) {
  m.impl("deform_conv2d", &::deformviz::deform_conv2d_forward<CpuDeformConvKernels>);
  m.impl("_deform_conv2d_backward", &::deformviz::deform_conv2d_backward<CpuDeformConvKernels>);
}

}  // namespace deformviz::cpu
