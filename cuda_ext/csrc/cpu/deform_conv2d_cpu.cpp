// CPU kernels of deform_conv2d, parallel over the machine's cores with at::parallel_for, for
// float64, float32, float16 and bfloat16 (the half types computed in float32, stored rounded).
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

// Output positions handled together: their stencils stay in L1 while the channels stream past.
constexpr int64_t kPositionsPerBlock = 64;

// A block of up to kPositionsPerBlock consecutive output positions of one (image, group, tap).
struct PositionBlock {
  int64_t b, g, k, p0, size;
};

int64_t position_block_count(const DeformConvShape& s) {
  const int64_t blocks = (s.positions() + kPositionsPerBlock - 1) / kPositionsPerBlock;
  return s.batch * s.offset_groups * s.taps() * blocks;
}

PositionBlock position_block(const DeformConvShape& s, int64_t task) {
  const int64_t blocks = (s.positions() + kPositionsPerBlock - 1) / kPositionsPerBlock;
  PositionBlock block;
  const int64_t index = task % blocks;
  task /= blocks;
  block.k = task % s.taps();
  task /= s.taps();
  block.g = task % s.offset_groups;
  block.b = task / s.offset_groups;
  block.p0 = index * kPositionsPerBlock;
  block.size = std::min(kPositionsPerBlock, s.positions() - block.p0);
  return block;
}
// Channels that share one computation of a sampling point's stencil when scattering gradients.
constexpr int64_t kChannelsPerSlice = 16;

struct CpuDeformConvKernels {
  // One task per (image, group, tap, block of positions): the block's stencils are computed once,
  // then every channel of the group fills a contiguous run of its column row.
  static void im2col(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                     const DeformConvShape& s, at::Tensor& columns) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "deform_conv2d_im2col_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* off = offset.const_data_ptr<scalar_t>();
      const scalar_t* m = data_or_null<scalar_t>(mask);
      scalar_t* cols = columns.data_ptr<scalar_t>();
      const int64_t per_group = s.channels_per_offset_group();
      at::parallel_for(0, position_block_count(s), 1, [&](int64_t begin, int64_t end) {
        LocatedPoint<Acc> points[kPositionsPerBlock];
        for (int64_t task = begin; task < end; ++task) {
          const PositionBlock block = position_block(s, task);
          for (int64_t i = 0; i < block.size; ++i) {
            points[i] = locate<Acc>(s, off, m, block.b, block.g, block.k, block.p0 + i);
          }
          for (int64_t c = block.g * per_group; c < (block.g + 1) * per_group; ++c) {
            const scalar_t* image = plane(s, in, block.b, c);
            scalar_t* row = cols + s.column_index(c, block.k, block.b, block.p0);
            for (int64_t i = 0; i < block.size; ++i) {
              row[i] = static_cast<scalar_t>(points[i].modulation * interpolate<Acc>(image, points[i].stencil));
            }
          }
        }
      });
    });
  }

  // One task per (image, slice of channels of one offset group): each sampling point's stencil
  // is computed once per slice, and every grad_input plane still has a single writer.
  static void col2im(const at::Tensor& grad_columns, const at::Tensor& offset,
                     const at::Tensor& mask, const DeformConvShape& s, at::Tensor& grad_input) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_columns.scalar_type(),
                                  "deform_conv2d_col2im_cpu", [&] {
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

  // Blocked like im2col: each channel's column gradients are read as one contiguous run.
  static void offset_mask_gradient(const at::Tensor& grad_columns, const at::Tensor& input,
                                   const at::Tensor& offset, const at::Tensor& mask,
                                   const DeformConvShape& s, at::Tensor& grad_offset,
                                   at::Tensor& grad_mask) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "deform_conv2d_offset_grad_cpu", [&] {
      using Acc = typename AccumulateType<scalar_t>::type;
      const scalar_t* gcols = grad_columns.const_data_ptr<scalar_t>();
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* off = offset.const_data_ptr<scalar_t>();
      const scalar_t* m = data_or_null<scalar_t>(mask);
      scalar_t* goff = grad_offset.data_ptr<scalar_t>();
      scalar_t* gmask = s.has_mask ? grad_mask.data_ptr<scalar_t>() : nullptr;
      const int64_t per_group = s.channels_per_offset_group();
      at::parallel_for(0, position_block_count(s), 1, [&](int64_t begin, int64_t end) {
        LocatedPoint<Acc> points[kPositionsPerBlock];
        Acc grad_dy[kPositionsPerBlock], grad_dx[kPositionsPerBlock], grad_m[kPositionsPerBlock];
        for (int64_t task = begin; task < end; ++task) {
          const PositionBlock block = position_block(s, task);
          for (int64_t i = 0; i < block.size; ++i) {
            points[i] = locate<Acc>(s, off, m, block.b, block.g, block.k, block.p0 + i);
            grad_dy[i] = grad_dx[i] = grad_m[i] = Acc(0);
          }
          for (int64_t c = block.g * per_group; c < (block.g + 1) * per_group; ++c) {
            const scalar_t* image = plane(s, in, block.b, c);
            const scalar_t* row = gcols + s.column_index(c, block.k, block.b, block.p0);
            for (int64_t i = 0; i < block.size; ++i) {
              accumulate_offset_gradient<Acc>(image, points[i], static_cast<Acc>(row[i]),
                                              s.has_mask, grad_dy[i], grad_dx[i], grad_m[i]);
            }
          }
          for (int64_t i = 0; i < block.size; ++i) {
            const int64_t at = s.offset_index(block.b, block.g, block.k, block.p0 + i);
            goff[at] = static_cast<scalar_t>(grad_dy[i]);
            goff[at + s.positions()] = static_cast<scalar_t>(grad_dx[i]);
            if (gmask != nullptr) {
              gmask[s.mask_index(block.b, block.g, block.k, block.p0 + i)] = static_cast<scalar_t>(grad_m[i]);
            }
          }
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
