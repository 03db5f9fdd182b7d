// CPU kernels of deform_roi_pool, parallel over the machine's cores with at::parallel_for.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../deform_roi_pool.h"
#include "deformviz/deform_roi_pool.h"
#include "kernel_support.h"

namespace deformviz::cpu {
namespace {

struct CpuDeformRoIPoolKernels {
  static void roi_pool_forward(const at::Tensor& input, const at::Tensor& rois,
                               const at::Tensor& offset, const DeformRoIPoolShape& s,
                               at::Tensor& output) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "deform_roi_pool_forward_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* boxes = rois.const_data_ptr<scalar_t>();
      const scalar_t* off = data_or_null<scalar_t>(offset);
      scalar_t* out = output.data_ptr<scalar_t>();
      // One task per (roi, bin): its geometry is computed once and reused for every channel.
      at::parallel_for(0, s.num_rois * s.bins(), 1, [&](int64_t begin, int64_t end) {
        for (int64_t index = begin; index < end; ++index) {
          const int64_t r = index / s.bins();
          const int64_t ph = (index % s.bins()) / s.pooled_w;
          const int64_t pw = index % s.pooled_w;
          const RoIBin<Acc> bin = roi_bin<Acc>(s, boxes, off, r, ph, pw);
          for (int64_t c = 0; c < s.channels; ++c) {
            out[((r * s.channels + c) * s.pooled_h + ph) * s.pooled_w + pw] =
                static_cast<scalar_t>(pool_bin<Acc>(s, in, bin, c));
          }
        }
      });
    });
  }

  static void roi_pool_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                const at::Tensor& rois, const at::Tensor& offset,
                                const DeformRoIPoolShape& s, at::Tensor& grad_input,
                                at::Tensor& grad_offset) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "deform_roi_pool_backward_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* gout = grad_output.const_data_ptr<scalar_t>();
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* boxes = rois.const_data_ptr<scalar_t>();
      const scalar_t* off = data_or_null<scalar_t>(offset);
      Acc* gin = grad_input.data_ptr<Acc>();
      // Input gradient: one task per channel, so no two threads add into one pixel.
      at::parallel_for(0, s.channels, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          for (int64_t r = 0; r < s.num_rois; ++r) {
            for (int64_t ph = 0; ph < s.pooled_h; ++ph) {
              for (int64_t pw = 0; pw < s.pooled_w; ++pw) {
                const RoIBin<Acc> bin = roi_bin<Acc>(s, boxes, off, r, ph, pw);
                const Acc upstream = static_cast<Acc>(
                    gout[((r * s.channels + c) * s.pooled_h + ph) * s.pooled_w + pw]);
                pool_bin_input_gradient<Acc>(s, bin, c, upstream, gin, PlainAdd{});
              }
            }
          }
        }
      });
      if (!s.has_offset) return;
      scalar_t* goff = grad_offset.data_ptr<scalar_t>();
      at::parallel_for(0, s.num_rois * s.bins(), 1, [&](int64_t begin, int64_t end) {
        for (int64_t index = begin; index < end; ++index) {
          const int64_t r = index / s.bins();
          const int64_t ph = (index % s.bins()) / s.pooled_w;
          const int64_t pw = index % s.pooled_w;
          const RoIBin<Acc> bin = roi_bin<Acc>(s, boxes, off, r, ph, pw);
          Acc gx, gy;
          pool_bin_offset_gradient<Acc>(s, gout, in, bin, r, ph, pw, 0, s.channels, gx, gy);
          const int64_t at = (r * 2 * s.pooled_h + ph) * s.pooled_w + pw;
          goff[at] = static_cast<scalar_t>(gx);
          goff[at + s.bins()] = static_cast<scalar_t>(gy);
        }
      });
    });
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CPU, m) {
  m.impl("deform_roi_pool", &::deformviz::deform_roi_pool_forward<CpuDeformRoIPoolKernels>);
  m.impl("_deform_roi_pool_backward", &::deformviz::deform_roi_pool_backward<CpuDeformRoIPoolKernels>);
}

}  // namespace deformviz::cpu
