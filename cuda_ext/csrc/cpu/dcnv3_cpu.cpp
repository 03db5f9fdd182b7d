// dcnv3 on the CPU, for float64, float32, float16 and bfloat16 (the half types computed in
// float32, stored rounded).
//
// The input is already channels last, so a point's four bilinear neighbours are four contiguous
// vectors of a group's channels: one stencil (deformviz/dcnv3.h, bilinear.h) serves the whole
// group in deform_conv2d's channel loop (channels_last_sampling.h). Output positions are shared
// out over the threads; each position's row of channels is summed over the group's points.
// The backward pass is one fused pass per point, like deform_conv2d's, with the upstream gradient
// of the output row in place of a column gradient (d out / d sample_p = m_p).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../dcnv3.h"
#include "channels_last_sampling.h"
#include "deformviz/dcnv3.h"

namespace deformviz::cpu {
namespace {

// The float passes are compiled for each vector path of vector_path.h (baseline, AVX2,
// AVX-512) and the one chosen at run time is taken, like deform_conv2d's channel loops, so
// DEFORMVIZ_CPU_VECTOR and `use_cpu_vector_path` force dcnv3's path too: a group's 16 channels
// (InternImage) are then one or two vectors instead of four SSE ones. The per-point helpers are
// forced inline so they are compiled for the caller's instruction set.

// Output positions per parallel task: a few rows of work, small enough to balance the threads.
constexpr int64_t kPositionsPerTask = 16;

// The backward work of one point of a group, in one pass over the group's channels:
//   grad_pixels[n][j] += w_n * m * upstream[j]    (the input gradient)
//   gradient.dot[n]   += upstream[j] * pixel_n[j] (for the position gradient)
// and the mask gradient sum_j upstream[j] * sample[j], which is sum_n w_n * dot[n] over the
// used terms: no per-channel sample is formed (unlike deform_conv2d's backward_run, which also
// writes the sample into its column). Which pixels each term reads and where it scatters:
// `StencilTerms` (channels_last_sampling.h), as deform_conv2d's backward.
template <typename Acc>
DEFORMVIZ_ALWAYS_INLINE void backward_point(const LocatedPoint<Acc>& point, const Acc* pixels, Acc* grad_pixels,
                           int64_t channels, const Acc* zeros, Acc* sinks, int64_t length,
                           const Acc* __restrict__ upstream, PointGradient<Acc>& gradient) {
  const StencilTerms<Acc> terms(point.stencil, pixels, grad_pixels, channels, zeros, sinks,
                                length);
  const Acc* w = terms.weight;
  const Acc m = point.modulation;
  const Acc *a0 = terms.slope_src[0], *a1 = terms.slope_src[1], *a2 = terms.slope_src[2],
            *a3 = terms.slope_src[3];
  Acc* __restrict__ t0 = terms.target[0];
  Acc* __restrict__ t1 = terms.target[1];
  Acc* __restrict__ t2 = terms.target[2];
  Acc* __restrict__ t3 = terms.target[3];
  Acc d0 = Acc(0), d1 = Acc(0), d2 = Acc(0), d3 = Acc(0);
#pragma omp simd reduction(+ : d0, d1, d2, d3)
  for (int64_t j = 0; j < length; ++j) {
    const Acc g = upstream[j];
    d0 += g * a0[j];
    d1 += g * a1[j];
    d2 += g * a2[j];
    d3 += g * a3[j];
    const Acc spread = g * m;
    t0[j] += w[0] * spread;
    t1[j] += w[1] * spread;
    t2[j] += w[2] * spread;
    t3[j] += w[3] * spread;
  }
  const Acc dots[4] = {d0, d1, d2, d3};
  for (int n = 0; n < 4; ++n) {
    gradient.dot[n] = dots[n];
    if (w[n] != Acc(0)) gradient.mask += w[n] * dots[n];
  }
}

// The input in the accumulation type: the tensor itself for float and double.
template <typename Acc>
at::Tensor accumulation_pixels(const at::Tensor& input) {
  return input.to(c10::CppTypeToScalarType<Acc>::value).contiguous();
}

// The forward pass over output positions [begin, end) (over the whole batch).
template <typename scalar_t, typename Acc>
struct ForwardPass {
  Dcnv3Shape s;
  const Acc* image_data;  // [batch, height, width, channels]
  const Acc* zeros;       // channels-per-group zeros
  const scalar_t* offset;
  const scalar_t* mask;
  scalar_t* output;

  // Scratch: `row` holds channels values, `sample` channels-per-group.
  DEFORMVIZ_ALWAYS_INLINE void run(int64_t begin, int64_t end, Acc* row, Acc* sample) const {
    const int64_t per_group = s.channels_per_group();
    for (int64_t q = begin; q < end; ++q) {
      const Acc* image = dcnv3_image(s, image_data, q / s.positions());
      std::fill(row, row + s.channels, Acc(0));
      const Dcnv3Output o = dcnv3_output(s, q);
      for (int64_t g = 0; g < s.groups; ++g) {
        Acc* sum = row + g * per_group;
        for (int64_t i = 0; i < s.kernel_w; ++i) {
          for (int64_t j = 0; j < s.kernel_h; ++j) {
            const LocatedPoint<Acc> point = dcnv3_locate<Acc>(s, offset, mask, o, g, i, j);
            // deform_conv2d's channel loop: m * the bilinear sample of each channel of the group.
            sample_run<Acc>(point, image + g * per_group, s.channels, zeros, per_group, sample);
            for (int64_t c = 0; c < per_group; ++c) sum[c] += sample[c];
          }
        }
      }
      scalar_t* dst = output + q * s.channels;
      for (int64_t c = 0; c < s.channels; ++c) dst[c] = static_cast<scalar_t>(row[c]);
    }
  }
};

// The float forward pass compiled for each vector path, and the one chosen at run time.
#define DV_FORWARD_PARAMETERS \
  const ForwardPass<float, float>&pass, int64_t begin, int64_t end, float *row, float *sample
void run_float_forward_baseline(DV_FORWARD_PARAMETERS) { pass.run(begin, end, row, sample); }
#if DEFORMVIZ_VECTOR_PATHS
DEFORMVIZ_TARGET_AVX2 void run_float_forward_avx2(DV_FORWARD_PARAMETERS) { pass.run(begin, end, row, sample); }
DEFORMVIZ_TARGET_AVX512 void run_float_forward_avx512(DV_FORWARD_PARAMETERS) {
  pass.run(begin, end, row, sample);
}
#endif

void run_float_forward(DV_FORWARD_PARAMETERS) {
#if DEFORMVIZ_VECTOR_PATHS
  switch (vector_path()) {
    case VectorPath::kAvx512:
      return run_float_forward_avx512(pass, begin, end, row, sample);
    case VectorPath::kAvx2:
      return run_float_forward_avx2(pass, begin, end, row, sample);
    default:
      break;
  }
#endif
  run_float_forward_baseline(pass, begin, end, row, sample);
}
#undef DV_FORWARD_PARAMETERS

template <typename scalar_t>
at::Tensor forward_typed(const Dcnv3Shape& s, const at::Tensor& input, const at::Tensor& offset,
                         const at::Tensor& mask) {
  using Acc = typename AccumulateType<scalar_t>::type;
  const at::Tensor pixels = accumulation_pixels<Acc>(input);
  at::Tensor output = at::empty({s.batch, s.out_h, s.out_w, s.channels}, input.options());
  const at::Tensor zeros = at::zeros({std::max<int64_t>(s.channels_per_group(), 1)}, pixels.options());
  const ForwardPass<scalar_t, Acc> pass{s,
                                        pixels.const_data_ptr<Acc>(),
                                        zeros.const_data_ptr<Acc>(),
                                        offset.const_data_ptr<scalar_t>(),
                                        mask.const_data_ptr<scalar_t>(),
                                        output.data_ptr<scalar_t>()};
  at::parallel_for(0, s.output_count(), kPositionsPerTask, [&](int64_t begin, int64_t end) {
    std::vector<Acc> row(std::max<int64_t>(s.channels, 1));
    std::vector<Acc> sample(std::max<int64_t>(s.channels_per_group(), 1));
    if constexpr (std::is_same_v<scalar_t, float>) {
      run_float_forward(pass, begin, end, row.data(), sample.data());
    } else {
      pass.run(begin, end, row.data(), sample.data());
    }
  });
  return output;
}

at::Tensor dcnv3_forward_cpu(const at::Tensor& input, const at::Tensor& offset_,
                             const at::Tensor& mask_, int64_t kernel_h, int64_t kernel_w,
                             int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                             int64_t dilation_h, int64_t dilation_w, int64_t groups,
                             double offset_scale) {
  const Dcnv3Shape s = detail::check_dcnv3(input, offset_, mask_, kernel_h, kernel_w, stride_h,
                                           stride_w, pad_h, pad_w, dilation_h, dilation_w, groups,
                                           offset_scale);
  const at::Tensor offset = offset_.contiguous();
  const at::Tensor mask = mask_.contiguous();
  at::Tensor output;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_cpu", [&] {
    output = forward_typed<scalar_t>(s, input, offset, mask);
  });
  return output;
}

// The backward pass over the output positions of one task: image b = task / parts, its part
// task % parts of the positions, scattering into that task's input-gradient buffer.
template <typename scalar_t, typename Acc>
struct BackwardPass {
  Dcnv3Shape s;
  int64_t parts;
  const Acc* image_data;   // [batch, height, width, channels]
  Acc* grad_image_data;    // [batch, parts, height * width * channels]
  const scalar_t* grad_output;
  const scalar_t* offset;
  const scalar_t* mask;
  scalar_t* grad_offset;
  scalar_t* grad_mask;

  // Scratch: `zeros` and `upstream` hold channels-per-group and channels values, `sinks` four
  // times channels-per-group.
  DEFORMVIZ_ALWAYS_INLINE void run(int64_t task, const Acc* zeros, Acc* sinks, Acc* upstream) const {
    const int64_t per_group = s.channels_per_group();
    const int64_t b = task / parts;
    const int64_t part = task % parts;
    const Acc* image = dcnv3_image(s, image_data, b);
    Acc* grad_image = grad_image_data + task * s.height * s.width * s.channels;
    const int64_t first = b * s.positions() + part * s.positions() / parts;
    const int64_t last = b * s.positions() + (part + 1) * s.positions() / parts;
    const Acc scale = Acc(s.offset_scale);
    for (int64_t q = first; q < last; ++q) {
      for (int64_t c = 0; c < s.channels; ++c) upstream[c] = static_cast<Acc>(grad_output[q * s.channels + c]);
      const Dcnv3Output o = dcnv3_output(s, q);
      for (int64_t g = 0; g < s.groups; ++g) {
        for (int64_t i = 0; i < s.kernel_w; ++i) {
          for (int64_t j = 0; j < s.kernel_h; ++j) {
            const LocatedPoint<Acc> point = dcnv3_locate<Acc>(s, offset, mask, o, g, i, j);
            PointGradient<Acc> gradient;
            backward_point<Acc>(point, image + g * per_group, grad_image + g * per_group,
                                s.channels, zeros, sinks, per_group, upstream + g * per_group,
                                gradient);
            Acc grad_dy, grad_dx;
            gradient.position_gradient(point, grad_dy, grad_dx);
            const int64_t index = s.point_index(q, g, i * s.kernel_h + j);
            // The position moves by offset_scale cells per unit of offset.
            grad_offset[2 * index] = static_cast<scalar_t>(scale * grad_dx);
            grad_offset[2 * index + 1] = static_cast<scalar_t>(scale * grad_dy);
            grad_mask[index] = static_cast<scalar_t>(gradient.mask);
          }
        }
      }
    }
  }
};

// The float backward pass compiled for each vector path, and the one chosen at run time.
#define DV_BACKWARD_PARAMETERS \
  const BackwardPass<float, float>&pass, int64_t task, const float *zeros, float *sinks, float *upstream
void run_float_backward_baseline(DV_BACKWARD_PARAMETERS) { pass.run(task, zeros, sinks, upstream); }
#if DEFORMVIZ_VECTOR_PATHS
DEFORMVIZ_TARGET_AVX2 void run_float_backward_avx2(DV_BACKWARD_PARAMETERS) {
  pass.run(task, zeros, sinks, upstream);
}
DEFORMVIZ_TARGET_AVX512 void run_float_backward_avx512(DV_BACKWARD_PARAMETERS) {
  pass.run(task, zeros, sinks, upstream);
}
#endif

void run_float_backward(DV_BACKWARD_PARAMETERS) {
#if DEFORMVIZ_VECTOR_PATHS
  switch (vector_path()) {
    case VectorPath::kAvx512:
      return run_float_backward_avx512(pass, task, zeros, sinks, upstream);
    case VectorPath::kAvx2:
      return run_float_backward_avx2(pass, task, zeros, sinks, upstream);
    default:
      break;
  }
#endif
  run_float_backward_baseline(pass, task, zeros, sinks, upstream);
}
#undef DV_BACKWARD_PARAMETERS

template <typename scalar_t>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_typed(const Dcnv3Shape& s,
                                                              const at::Tensor& grad_output,
                                                              const at::Tensor& input,
                                                              const at::Tensor& offset,
                                                              const at::Tensor& mask) {
  using Acc = typename AccumulateType<scalar_t>::type;
  const at::Tensor pixels = accumulation_pixels<Acc>(input);
  // Scatters into the input gradient collide when two threads work on one image, so when there
  // are fewer images than threads an image's positions are cut into `parts`, each scattering
  // into its own buffer; the buffers are summed in a fixed order at the end.
  const int64_t threads = at::get_num_threads();
  const int64_t parts = s.batch >= threads ? 1 : (threads + s.batch - 1) / std::max<int64_t>(s.batch, 1);
  at::Tensor grad_pixels = at::zeros({s.batch, parts, s.height * s.width * s.channels}, pixels.options());
  at::Tensor grad_offset = at::empty(offset.sizes(), offset.options());
  at::Tensor grad_mask = at::empty(mask.sizes(), mask.options());
  const BackwardPass<scalar_t, Acc> pass{s,
                                         parts,
                                         pixels.const_data_ptr<Acc>(),
                                         grad_pixels.data_ptr<Acc>(),
                                         grad_output.const_data_ptr<scalar_t>(),
                                         offset.const_data_ptr<scalar_t>(),
                                         mask.const_data_ptr<scalar_t>(),
                                         grad_offset.data_ptr<scalar_t>(),
                                         grad_mask.data_ptr<scalar_t>()};
  at::parallel_for(0, s.batch * parts, 1, [&](int64_t begin, int64_t end) {
    const int64_t run_max = std::max<int64_t>(s.channels_per_group(), 1);
    const std::vector<Acc> zeros(run_max, Acc(0));
    std::vector<Acc> sinks(4 * run_max);
    std::vector<Acc> upstream(std::max<int64_t>(s.channels, 1));
    for (int64_t task = begin; task < end; ++task) {
      if constexpr (std::is_same_v<scalar_t, float>) {
        run_float_backward(pass, task, zeros.data(), sinks.data(), upstream.data());
      } else {
        pass.run(task, zeros.data(), sinks.data(), upstream.data());
      }
    }
  });
  const at::Tensor summed = parts == 1 ? grad_pixels.select(1, 0) : grad_pixels.sum(1);
  at::Tensor grad_input = summed.view(input.sizes()).to(input.scalar_type());
  return {grad_input, grad_offset, grad_mask};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dcnv3_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset_,
    const at::Tensor& mask_, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
    int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
    int64_t groups, double offset_scale) {
  const Dcnv3Shape s = detail::check_dcnv3(input, offset_, mask_, kernel_h, kernel_w, stride_h,
                                           stride_w, pad_h, pad_w, dilation_h, dilation_w, groups,
                                           offset_scale);
  detail::check_dcnv3_grad_output(s, grad_output);
  const at::Tensor upstream = grad_output.to(input.scalar_type()).contiguous();
  const at::Tensor offset = offset_.contiguous();
  const at::Tensor mask = mask_.contiguous();
  std::tuple<at::Tensor, at::Tensor, at::Tensor> grads;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "dcnv3_backward_cpu", [&] {
    grads = backward_typed<scalar_t>(s, upstream, input, offset, mask);
  });
  return grads;
}

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CPU, m) {
  m.impl("dcnv3", &dcnv3_forward_cpu);
  m.impl("_dcnv3_backward", &dcnv3_backward_cpu);
}

}  // namespace deformviz::cpu
