// deform_conv2d on the CPU, for float64, float32, float16 and bfloat16 (the half types computed
// in float32, stored rounded).
//
// Output positions are cut into tiles of at most kMaxTilePositions; each thread fills a tile's
// columns [positions, channels * taps] in a small workspace that stays in cache, and multiplies
// it with the weights right away (one single-threaded GEMM per tile and weight group, inside
// at::parallel_for). Compared with one column buffer for a whole chunk of images, nothing large
// is allocated per call (no page faults), the GEMM reads columns that were just written, and the
// backward pass computes each sampling point's stencil once for the input, offset, mask and
// weight gradients together (channels_last_sampling.h).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>

#include "../deform_conv2d.h"
#include "channels_last_sampling.h"
#include "deformviz/deform_conv.h"
#include "kernel_support.h"

namespace deformviz::cpu {
namespace {

// Positions per tile: enough columns for an efficient GEMM, few enough that a tile of 512
// channels x 9 taps (4.7 MB in float32) stays in the last-level cache.
constexpr int64_t kMaxTilePositions = 256;

// How each image's output positions are cut into tiles: tile t of an image covers positions
// [t * P / tiles, (t + 1) * P / tiles), so tiles differ in size by at most one position.
struct Tiling {
  int64_t tiles_per_image;
  int64_t max_positions;

  int64_t begin(const DeformConvShape& s, int64_t tile) const {
    return tile * s.positions() / tiles_per_image;
  }
  int64_t end(const DeformConvShape& s, int64_t tile) const { return begin(s, tile + 1); }
};

// Tiles within the column budget (deformviz.ops.column_budget bounds one tile's columns), at
// least `min_tiles` per image, in a number of tasks that shares out evenly over the threads:
// a batch-1 detection input cut into 17 tiles would leave one thread a tile behind, so it is
// cut into 16 slightly larger ones (up to 5/4 of kMaxTilePositions, never past the budget), or
// else into more smaller ones.
Tiling make_tiling(const DeformConvShape& s, int64_t element_size, int64_t min_tiles) {
  const int64_t positions = s.positions();
  const int64_t row_bytes = std::max<int64_t>(1, s.channels * s.taps() * element_size);
  const int64_t budget = std::max<int64_t>(1, detail::column_budget_bytes().load() / row_bytes);
  const int64_t capacity = std::min(budget, kMaxTilePositions);
  const int64_t fewest = std::min(min_tiles, positions);
  int64_t tiles = std::min(std::max((positions + capacity - 1) / capacity, fewest), positions);
  const int64_t threads = at::get_num_threads();
  const auto even = [&](int64_t count) { return (s.batch * count) % threads == 0; };
  if (!even(tiles)) {
    int64_t fewer = tiles;
    while (fewer > fewest && !even(fewer)) --fewer;
    const int64_t largest = std::min(budget, capacity * 5 / 4);
    if (even(fewer) && (positions + fewer - 1) / fewer <= largest) {
      tiles = fewer;
    } else {
      const int64_t limit = std::min(positions, 2 * tiles);
      while (!even(tiles) && tiles < limit) ++tiles;
    }
  }
  return {tiles, (positions + tiles - 1) / tiles};
}

// Blocks of pixels x channels moved together between the two layouts: the reads of one and
// the writes of the other stay within a few cache lines.
constexpr int64_t kTransposeBlock = 64;

// Calls visit(b, pixel_begin, pixel_end, channel_begin, channel_end) for every block of
// `batch` images of `pixels` x `channels`, in parallel over images and pixel blocks.
template <typename Visit>
void for_each_block(int64_t batch, int64_t pixels, int64_t channels, const Visit& visit) {
  const int64_t pixel_blocks = (pixels + kTransposeBlock - 1) / kTransposeBlock;
  at::parallel_for(0, batch * pixel_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t p0 = (task % pixel_blocks) * kTransposeBlock;
      for (int64_t c0 = 0; c0 < channels; c0 += kTransposeBlock) {
        visit(task / pixel_blocks, p0, std::min(p0 + kTransposeBlock, pixels), c0,
              std::min(c0 + kTransposeBlock, channels));
      }
    }
  });
}

// [batch, channels, height, width] -> [batch, height * width, channels] in Acc. ATen's copy of a
// permuted view is several times slower than this blocked loop, which runs once per call.
template <typename Acc, typename scalar_t>
at::Tensor to_channels_last(const at::Tensor& input, const at::TensorOptions& acc) {
  const int64_t batch = input.size(0), channels = input.size(1);
  const int64_t pixels = input.size(2) * input.size(3);
  at::Tensor result = at::empty({batch, pixels, channels}, acc);
  const scalar_t* src = input.const_data_ptr<scalar_t>();
  Acc* dst = result.data_ptr<Acc>();
  for_each_block(batch, pixels, channels, [&](int64_t b, int64_t p0, int64_t p1, int64_t c0,
                                              int64_t c1) {
    const scalar_t* from = src + b * channels * pixels;
    Acc* to = dst + b * pixels * channels;
    for (int64_t q = p0; q < p1; ++q) {
      for (int64_t c = c0; c < c1; ++c) to[q * channels + c] = static_cast<Acc>(from[c * pixels + q]);
    }
  });
  return result;
}

// The inverse, summing `parts` channels-last buffers per image:
// [batch * parts, height * width, channels] in Acc -> [batch, channels, height, width].
template <typename Acc, typename scalar_t>
void from_channels_last(const at::Tensor& parts_buffer, int64_t parts, at::Tensor& output) {
  const int64_t batch = output.size(0), channels = output.size(1);
  const int64_t pixels = output.size(2) * output.size(3);
  const Acc* src = parts_buffer.const_data_ptr<Acc>();
  scalar_t* dst = output.data_ptr<scalar_t>();
  for_each_block(batch, pixels, channels, [&](int64_t b, int64_t p0, int64_t p1, int64_t c0,
                                              int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      scalar_t* to = dst + (b * channels + c) * pixels;
      for (int64_t q = p0; q < p1; ++q) {
        Acc sum = Acc(0);
        for (int64_t part = 0; part < parts; ++part) {
          sum += src[((b * parts + part) * pixels + q) * channels + c];
        }
        to[q] = static_cast<scalar_t>(sum);
      }
    }
  });
}

// Everything both passes need: the channels-last input and the weights in column order.
template <typename Acc>
struct Prepared {
  DeformConvShape shape;
  int64_t weight_groups;
  int64_t out_per_group;       // output channels per weight group
  int64_t in_per_group;        // input channels per weight group
  at::Tensor pixels;           // [batch, height * width, channels], Acc
  at::Tensor weight;           // [weight groups, out per group, taps * in per group], Acc
  std::vector<std::vector<ChannelRun>> runs;

  int64_t row_length() const { return shape.channels * shape.taps(); }  // a column row
  int64_t group_columns() const { return shape.taps() * in_per_group; }
  const Acc* image(int64_t b) const {
    return pixels.const_data_ptr<Acc>() + b * shape.height * shape.width * shape.channels;
  }
};

template <typename Acc, typename scalar_t>
Prepared<Acc> prepare(const DeformConvShape& s, const at::Tensor& input, const at::Tensor& weight) {
  Prepared<Acc> p;
  p.shape = s;
  p.weight_groups = detail::conv_groups(s, weight);
  p.out_per_group = weight.size(0) / p.weight_groups;
  p.in_per_group = weight.size(1);
  const auto acc = input.options().dtype(c10::CppTypeToScalarType<Acc>::value);
  p.pixels = to_channels_last<Acc, scalar_t>(input.contiguous(), acc);
  // Detached: the GEMMs run on the weights inside this op, below autograd, also on worker
  // threads.
  p.weight = weight.detach().to(acc)
                 .view({p.weight_groups, p.out_per_group, p.in_per_group, s.taps()})
                 .transpose(2, 3)
                 .contiguous()
                 .view({p.weight_groups, p.out_per_group, s.taps() * p.in_per_group});
  p.runs = channel_runs(s, std::max<int64_t>(p.in_per_group, 1));
  return p;
}

// A weight group's part of the first `n` rows of a column tile [rows, row_length]: [n, taps * cw].
template <typename Acc>
at::Tensor group_columns(const Prepared<Acc>& p, const at::Tensor& tile, int64_t group, int64_t n) {
  return tile.narrow(0, 0, n).narrow(1, group * p.group_columns(), p.group_columns());
}

// Output channels of a weight group in the first `n` columns of a [out_channels, rows] tile.
template <typename Acc>
at::Tensor group_rows(const Prepared<Acc>& p, const at::Tensor& tile, int64_t group, int64_t n) {
  return tile.narrow(0, group * p.out_per_group, p.out_per_group).narrow(1, 0, n);
}

template <typename scalar_t>
at::Tensor forward_typed(const DeformConvShape& s, const at::Tensor& input,
                         const at::Tensor& weight, const at::Tensor& offset,
                         const at::Tensor& mask, const std::optional<at::Tensor>& bias) {
  using Acc = typename AccumulateType<scalar_t>::type;
  const Prepared<Acc> p = prepare<Acc, scalar_t>(s, input, weight);
  const int64_t out_channels = weight.size(0);
  at::Tensor output = at::empty({s.batch, out_channels, s.out_h, s.out_w}, input.options());
  const at::Tensor bias_acc = bias.has_value() ? bias->to(p.pixels.scalar_type()) : at::Tensor();
  const Acc* bias_data = bias_acc.defined() ? bias_acc.const_data_ptr<Acc>() : nullptr;
  const scalar_t* off = offset.const_data_ptr<scalar_t>();
  const scalar_t* msk = data_or_null<scalar_t>(mask);
  scalar_t* out = output.data_ptr<scalar_t>();
  const Tiling tiling = make_tiling(s, sizeof(Acc), 1);
  const auto acc = p.pixels.options();

  at::parallel_for(0, s.batch * tiling.tiles_per_image, 1, [&](int64_t begin, int64_t end) {
    at::Tensor columns = at::empty({tiling.max_positions, p.row_length()}, acc);
    at::Tensor product = at::empty({out_channels, tiling.max_positions}, acc);
    const at::Tensor zeros = at::zeros({std::max<int64_t>(s.channels, 1)}, acc);
    Acc* cols = columns.data_ptr<Acc>();
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / tiling.tiles_per_image;
      const int64_t first = tiling.begin(s, task % tiling.tiles_per_image);
      const int64_t n = tiling.end(s, task % tiling.tiles_per_image) - first;
      const Acc* image = p.image(b);
      for (int64_t i = 0; i < n; ++i) {
        Acc* row = cols + i * p.row_length();
        for (int64_t g = 0; g < s.offset_groups; ++g) {
          for (int64_t k = 0; k < s.taps(); ++k) {
            const LocatedPoint<Acc> point = locate<Acc>(s, off, msk, b, g, k, first + i);
            for (const ChannelRun& run : p.runs[g]) {
              sample_run<Acc>(point, image + run.channel, s.channels, zeros.const_data_ptr<Acc>(),
                              run.length, row + run.column + k * p.in_per_group);
            }
          }
        }
      }
      for (int64_t group = 0; group < p.weight_groups; ++group) {
        at::Tensor result = group_rows(p, product, group, n);
        at::mm_out(result, p.weight[group], group_columns(p, columns, group, n).t());
      }
      const Acc* prod = product.const_data_ptr<Acc>();
      for (int64_t o = 0; o < out_channels; ++o) {
        const Acc shift = bias_data != nullptr ? bias_data[o] : Acc(0);
        scalar_t* dst = out + (b * out_channels + o) * s.positions() + first;
        const Acc* src = prod + o * tiling.max_positions;
        for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<scalar_t>(src[i] + shift);
      }
    }
  });
  return output;
}

at::Tensor deform_conv2d_forward_cpu(const at::Tensor& input_, const at::Tensor& weight_,
                                     const at::Tensor& offset_,
                                     const std::optional<at::Tensor>& mask_,
                                     const std::optional<at::Tensor>& bias, int64_t stride_h,
                                     int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                     int64_t dilation_h, int64_t dilation_w) {
  const DeformConvShape s = detail::check_deform_conv2d(
      input_, weight_, offset_, mask_, bias, stride_h, stride_w, pad_h, pad_w, dilation_h,
      dilation_w);
  const at::Tensor offset = offset_.contiguous();
  const at::Tensor mask = mask_.has_value() ? mask_->contiguous() : at::Tensor();
  at::Tensor output;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input_.scalar_type(),
                                  "deform_conv2d_cpu", [&] {
    output = forward_typed<scalar_t>(s, input_, weight_, offset, mask, bias);
  });
  return output;
}

// Whether every element is finite: x * 0 is 0 for finite x and NaN for Inf and NaN, and a sum
// of such products vectorises where a test per element would not.
template <typename Acc>
bool all_finite(const at::Tensor& t) {
  const Acc* data = t.const_data_ptr<Acc>();
  std::atomic<bool> finite{true};
  at::parallel_for(0, t.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    Acc probe = Acc(0);
#pragma omp simd reduction(+ : probe)
    for (int64_t i = begin; i < end; ++i) probe += data[i] * Acc(0);
    if (probe != Acc(0)) finite = false;
  });
  return finite.load();
}

template <typename scalar_t>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_typed(
    const DeformConvShape& s, const at::Tensor& grad_output, const at::Tensor& input,
    const at::Tensor& weight, const at::Tensor& offset, const at::Tensor& mask) {
  using Acc = typename AccumulateType<scalar_t>::type;
  const Prepared<Acc> p = prepare<Acc, scalar_t>(s, input, weight);
  const int64_t out_channels = weight.size(0);
  const auto acc = p.pixels.options();
  const bool finite = all_finite<Acc>(p.pixels);

  // Scatters into the input gradient collide when two threads work on one image, so an image
  // is cut into `parts` (only when there are fewer images than threads), each scattering into
  // its own buffer; the buffers are summed in a fixed order at the end.
  const int64_t threads = at::get_num_threads();
  const int64_t parts = s.batch >= threads ? 1 : (threads + s.batch - 1) / std::max<int64_t>(s.batch, 1);
  const Tiling tiling = make_tiling(s, sizeof(Acc), parts);
  const int64_t pixel_count = s.height * s.width;
  at::Tensor grad_pixels = at::zeros({s.batch * parts, pixel_count, s.channels}, acc);
  at::Tensor grad_offset = at::empty(offset.sizes(), offset.options());
  at::Tensor grad_mask = mask.defined() ? at::empty(mask.sizes(), mask.options())
                                        : at::empty({0}, offset.options());
  const scalar_t* off = offset.const_data_ptr<scalar_t>();
  const scalar_t* msk = data_or_null<scalar_t>(mask);
  const scalar_t* gout = grad_output.const_data_ptr<scalar_t>();
  scalar_t* goff = grad_offset.data_ptr<scalar_t>();
  scalar_t* gmask = mask.defined() ? grad_mask.data_ptr<scalar_t>() : nullptr;

  // One weight-gradient sum per chunk of tasks, added up in task order afterwards, so the
  // result does not depend on which thread finished first.
  std::map<int64_t, at::Tensor> weight_sums;
  std::mutex weight_sums_lock;

  at::parallel_for(0, s.batch * parts, 1, [&](int64_t begin, int64_t end) {
    at::Tensor columns = at::empty({tiling.max_positions, p.row_length()}, acc);
    at::Tensor grad_columns = at::empty({tiling.max_positions, p.row_length()}, acc);
    at::Tensor upstream = at::empty({out_channels, tiling.max_positions}, acc);
    at::Tensor grad_weight = at::zeros(p.weight.sizes(), acc);
    const int64_t run_max = std::max<int64_t>(s.channels, 1);
    const at::Tensor zeros = at::zeros({run_max}, acc);
    at::Tensor sinks = at::empty({4 * run_max}, acc);
    Acc* cols = columns.data_ptr<Acc>();
    const Acc* gcols = grad_columns.const_data_ptr<Acc>();
    Acc* up = upstream.data_ptr<Acc>();
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / parts;
      const int64_t part = task % parts;
      const Acc* image = p.image(b);
      Acc* grad_image = grad_pixels.data_ptr<Acc>() + task * pixel_count * s.channels;
      const int64_t tile_begin = part * tiling.tiles_per_image / parts;
      const int64_t tile_end = (part + 1) * tiling.tiles_per_image / parts;
      for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
        const int64_t first = tiling.begin(s, tile);
        const int64_t n = tiling.end(s, tile) - first;
        for (int64_t o = 0; o < out_channels; ++o) {
          const scalar_t* src = gout + (b * out_channels + o) * s.positions() + first;
          Acc* dst = up + o * tiling.max_positions;
          for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Acc>(src[i]);
        }
        for (int64_t group = 0; group < p.weight_groups; ++group) {
          at::Tensor result = group_columns(p, grad_columns, group, n);
          at::mm_out(result, group_rows(p, upstream, group, n).t(), p.weight[group]);
        }
        // kFinite is a compile-time choice, made once per tile rather than per run.
        const auto fused_pass = [&](auto finite_tag) {
          constexpr bool kFinite = decltype(finite_tag)::value;
          for (int64_t i = 0; i < n; ++i) {
            const int64_t position = first + i;
            for (int64_t g = 0; g < s.offset_groups; ++g) {
              for (int64_t k = 0; k < s.taps(); ++k) {
                const LocatedPoint<Acc> point = locate<Acc>(s, off, msk, b, g, k, position);
                PointGradient<Acc> gradient;
                for (const ChannelRun& run : p.runs[g]) {
                  const int64_t at = i * p.row_length() + run.column + k * p.in_per_group;
                  backward_run<Acc, kFinite>(point, image + run.channel, grad_image + run.channel,
                                             s.channels, zeros.const_data_ptr<Acc>(),
                                             sinks.data_ptr<Acc>(), run.length, gcols + at,
                                             cols + at, gradient);
                }
                Acc grad_dy, grad_dx;
                gradient.position_gradient(point, grad_dy, grad_dx);
                const int64_t index = s.offset_index(b, g, k, position);
                goff[index] = static_cast<scalar_t>(grad_dy);
                goff[index + s.positions()] = static_cast<scalar_t>(grad_dx);
                if (gmask != nullptr) {
                  gmask[s.mask_index(b, g, k, position)] = static_cast<scalar_t>(gradient.mask);
                }
              }
            }
          }
        };
        if (finite) {
          fused_pass(std::true_type{});
        } else {
          fused_pass(std::false_type{});
        }
        for (int64_t group = 0; group < p.weight_groups; ++group) {
          grad_weight[group].addmm_(group_rows(p, upstream, group, n),
                                    group_columns(p, columns, group, n));
        }
      }
    }
    std::lock_guard<std::mutex> guard(weight_sums_lock);
    weight_sums.emplace(begin, grad_weight);
  });

  at::Tensor grad_weight = at::zeros(p.weight.sizes(), acc);
  for (const auto& entry : weight_sums) grad_weight.add_(entry.second);
  // [groups, out per group, taps, in per group] -> [out, in per group, kernel_h, kernel_w]
  grad_weight = grad_weight.view({p.weight_groups, p.out_per_group, s.taps(), p.in_per_group})
                    .transpose(2, 3)
                    .reshape(weight.sizes());
  at::Tensor grad_input = at::empty(input.sizes(), input.options());
  from_channels_last<Acc, scalar_t>(grad_pixels, parts, grad_input);
  return {grad_input, grad_weight.to(weight.scalar_type()), grad_offset, grad_mask};
}

// Returns (grad_input, grad_weight, grad_offset, grad_mask, grad_bias); grad_mask and
// grad_bias are empty [0] tensors when the op had no mask or no bias.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward_cpu(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& weight_,
    const at::Tensor& offset_, const std::optional<at::Tensor>& mask_,
    const std::optional<at::Tensor>& bias, int64_t stride_h, int64_t stride_w, int64_t pad_h,
    int64_t pad_w, int64_t dilation_h, int64_t dilation_w) {
  const DeformConvShape s = detail::check_deform_conv2d(
      input_, weight_, offset_, mask_, bias, stride_h, stride_w, pad_h, pad_w, dilation_h,
      dilation_w);
  detail::check_grad_output(s, grad_output_, weight_.size(0));
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor offset = offset_.contiguous();
  const at::Tensor mask = mask_.has_value() ? mask_->contiguous() : at::Tensor();
  at::Tensor grad_input, grad_weight, grad_offset, grad_mask;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input_.scalar_type(),
                                  "deform_conv2d_backward_cpu", [&] {
    std::tie(grad_input, grad_weight, grad_offset, grad_mask) =
        backward_typed<scalar_t>(s, grad_output, input_, weight_, offset, mask);
  });
  at::Tensor grad_bias = detail::bias_gradient(grad_output, input_, bias);
  return {grad_input, grad_weight, grad_offset, grad_mask, grad_bias};
}

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CPU, m) {
  m.impl("deform_conv2d", &deform_conv2d_forward_cpu);
  m.impl("_deform_conv2d_backward", &deform_conv2d_backward_cpu);
}

}  // namespace deformviz::cpu
