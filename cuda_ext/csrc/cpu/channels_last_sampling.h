// The sampling work of deformable convolution on the CPU, on a channels-last copy of the input.
//
// In channels-last order ([batch, height, width, channels]) the four bilinear neighbours of a
// sampling point are four contiguous vectors of channels, so one stencil (computed once by the
// shared `locate`, deformviz/deform_conv.h) serves a whole run of channels in a loop the compiler
// vectorises, with no gathers. The math is the shared header's; only the loop order differs.
//
// A column row holds one output position's samples, ordered [weight group][tap][channel of the
// group], so each weight group's part of the row is one contiguous GEMM operand and each run
// below fills a contiguous piece of it.
//
// Terms the shared rules skip (a neighbour outside the plane, a bilinear weight of 0) are never
// multiplied: their reads come from a vector of zeros and their scatters go to a scratch sink,
// so Inf and NaN in the input reach exactly the outputs they reach in the other kernels.
//
// `sample_run` and `backward_run` run their loop compiled for the vector path chosen at run
// time (vector_path.h): the same source, as baseline, AVX2 and AVX-512 machine code.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "deformviz/deform_conv.h"
#include "vector_path.h"

namespace deformviz::cpu {

// Channels [channel, channel + length) of one offset group inside one weight group: contiguous
// in a pixel's channel vector and in a column row, where tap k's piece starts at
// column + k * channels_per_weight_group.
struct ChannelRun {
  int64_t channel;
  int64_t length;
  int64_t column;
};

// The runs of each offset group, in channel order: an offset group splits where a weight group
// ends (ResNeXt: 32 weight groups, 1 offset group).
inline std::vector<std::vector<ChannelRun>> channel_runs(const DeformConvShape& s,
                                                         int64_t channels_per_weight_group) {
  std::vector<std::vector<ChannelRun>> runs(s.offset_groups);
  const int64_t per_offset_group = s.channels_per_offset_group();
  const int64_t cw = channels_per_weight_group;
  for (int64_t g = 0; g < s.offset_groups; ++g) {
    const int64_t end = (g + 1) * per_offset_group;
    for (int64_t c = g * per_offset_group; c < end;) {
      const int64_t group = c / cw;
      const int64_t run_end = std::min(end, (group + 1) * cw);
      runs[g].push_back({c, run_end - c, group * s.taps() * cw + (c - group * cw)});
      c = run_end;
    }
  }
  return runs;
}

// out[j] = m * sum over the stencil's terms of weight * pixel[channel j], for one sampling
// point and one run. `pixels` is the image's channels-last data offset to the run's first
// channel; `zeros` holds at least `length` zeros.
template <typename Acc>
DEFORMVIZ_ALWAYS_INLINE void sample_run_loop(const LocatedPoint<Acc>& point, const Acc* pixels,
                                             int64_t channels, const Acc* zeros, int64_t length,
                                             Acc* __restrict__ out) {
  const Acc* src[4];
  Acc w[4];
  for (int n = 0; n < 4; ++n) {
    const bool used = point.stencil.weight[n] != Acc(0);
    src[n] = used ? pixels + point.stencil.index[n] * channels : zeros;
    w[n] = used ? point.stencil.weight[n] : Acc(0);
  }
  const Acc m = point.modulation;
  const Acc *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3];
#pragma omp simd
  for (int64_t j = 0; j < length; ++j) {
    // Summed in the order of `interpolate`, so the result matches the other kernels.
    out[j] = m * (((w[0] * s0[j] + w[1] * s1[j]) + w[2] * s2[j]) + w[3] * s3[j]);
  }
}

// The loop compiled for each vector path; `sample_run` takes the one chosen at run time.
template <typename Acc>
void sample_run_baseline(const LocatedPoint<Acc>& point, const Acc* pixels, int64_t channels,
                         const Acc* zeros, int64_t length, Acc* __restrict__ out) {
  sample_run_loop<Acc>(point, pixels, channels, zeros, length, out);
}

#if DEFORMVIZ_VECTOR_PATHS
template <typename Acc>
DEFORMVIZ_TARGET_AVX2 void sample_run_avx2(const LocatedPoint<Acc>& point, const Acc* pixels,
                                           int64_t channels, const Acc* zeros, int64_t length,
                                           Acc* __restrict__ out) {
  sample_run_loop<Acc>(point, pixels, channels, zeros, length, out);
}

template <typename Acc>
DEFORMVIZ_TARGET_AVX512 void sample_run_avx512(const LocatedPoint<Acc>& point, const Acc* pixels,
                                               int64_t channels, const Acc* zeros, int64_t length,
                                               Acc* __restrict__ out) {
  sample_run_loop<Acc>(point, pixels, channels, zeros, length, out);
}
#endif

template <typename Acc>
inline void sample_run(const LocatedPoint<Acc>& point, const Acc* pixels, int64_t channels,
                       const Acc* zeros, int64_t length, Acc* __restrict__ out) {
#if DEFORMVIZ_VECTOR_PATHS
  switch (vector_path()) {
    case VectorPath::kAvx512:
      return sample_run_avx512<Acc>(point, pixels, channels, zeros, length, out);
    case VectorPath::kAvx2:
      return sample_run_avx2<Acc>(point, pixels, channels, zeros, length, out);
    default:
      break;
  }
#endif
  sample_run_baseline<Acc>(point, pixels, channels, zeros, length, out);
}

// What one sampling point's backward pass adds up over its runs: the dot products of the column
// gradient with each neighbour's channels, and the mask gradient.
template <typename Acc>
struct PointGradient {
  Acc dot[4] = {Acc(0), Acc(0), Acc(0), Acc(0)};
  Acc mask = Acc(0);

  // Gradient of the point's sampling position (dy, dx), terms of derivative weight 0 skipped.
  void position_gradient(const LocatedPoint<Acc>& point, Acc& grad_dy, Acc& grad_dx) const {
    Acc dy = Acc(0), dx = Acc(0);
    for (int n = 0; n < 4; ++n) {
      if (point.stencil.weight_dy[n] != Acc(0)) dy += point.stencil.weight_dy[n] * dot[n];
      if (point.stencil.weight_dx[n] != Acc(0)) dx += point.stencil.weight_dx[n] * dot[n];
    }
    grad_dy = point.modulation * dy;
    grad_dx = point.modulation * dx;
  }
};

// The whole backward work of one sampling point and one run, in one pass over the channels:
//   column[j]        = the forward sample (for the weight gradient's GEMM)
//   grad_pixels[n]  += w_n * m * grad_column[j]   (the input gradient, into `grad_pixels`)
//   gradient.dot[n] += grad_column[j] * pixel_n[j] (for the position gradient)
//   gradient.mask   += grad_column[j] * sample without modulation
// `sinks` holds 4 * length scratch values that absorb the scatters of unused terms. With
// kFinite (the input holds no Inf or NaN) a term of weight 0 multiplies a finite value, so value
// and derivative share their loads; otherwise they read separately, as the shared rules do.
// What a backward pass reads and writes for a point's four bilinear terms, by the shared rules:
// a term of weight 0 reads `zeros` for its value and scatters into its own `sinks` row (no
// write to the image gradient); a term of weight 0 with a non-zero derivative (a neighbour on
// the border) still reads its pixel for the position gradient (`slope_src`).
template <typename Acc>
struct StencilTerms {
  const Acc* value_src[4];
  const Acc* slope_src[4];
  Acc* target[4];
  Acc weight[4];

  DEFORMVIZ_ALWAYS_INLINE StencilTerms(const BilinearStencil<Acc>& st, const Acc* pixels,
                                       Acc* grad_pixels, int64_t channels, const Acc* zeros,
                                       Acc* sinks, int64_t length) {
    for (int n = 0; n < 4; ++n) {
      const bool used = st.weight[n] != Acc(0);
      const bool sloped = st.weight_dy[n] != Acc(0) || st.weight_dx[n] != Acc(0);
      const int64_t at = st.index[n] * channels;
      value_src[n] = used ? pixels + at : zeros;
      slope_src[n] = (used || sloped) ? pixels + at : zeros;
      target[n] = used ? grad_pixels + at : sinks + n * length;
      weight[n] = used ? st.weight[n] : Acc(0);
    }
  }
};

template <typename Acc, bool kFinite>
DEFORMVIZ_ALWAYS_INLINE void backward_run_loop(const LocatedPoint<Acc>& point, const Acc* pixels,
                                               Acc* grad_pixels, int64_t channels, const Acc* zeros,
                                               Acc* sinks, int64_t length,
                                               const Acc* __restrict__ grad_column,
                                               Acc* __restrict__ column, PointGradient<Acc>& gradient) {
  const StencilTerms<Acc> terms(point.stencil, pixels, grad_pixels, channels, zeros, sinks,
                                length);
  const Acc* w = terms.weight;
  const Acc m = point.modulation;
  const Acc *v0 = terms.slope_src[0], *v1 = terms.slope_src[1], *v2 = terms.slope_src[2],
            *v3 = terms.slope_src[3];
  const Acc *u0 = terms.value_src[0], *u1 = terms.value_src[1], *u2 = terms.value_src[2],
            *u3 = terms.value_src[3];
  Acc* __restrict__ t0 = terms.target[0];
  Acc* __restrict__ t1 = terms.target[1];
  Acc* __restrict__ t2 = terms.target[2];
  Acc* __restrict__ t3 = terms.target[3];
  Acc d0 = Acc(0), d1 = Acc(0), d2 = Acc(0), d3 = Acc(0), dm = Acc(0);
#pragma omp simd reduction(+ : d0, d1, d2, d3, dm)
  for (int64_t j = 0; j < length; ++j) {
    const Acc g = grad_column[j];
    const Acc a0 = v0[j], a1 = v1[j], a2 = v2[j], a3 = v3[j];
    const Acc value = kFinite ? ((w[0] * a0 + w[1] * a1) + w[2] * a2) + w[3] * a3
                              : ((w[0] * u0[j] + w[1] * u1[j]) + w[2] * u2[j]) + w[3] * u3[j];
    column[j] = m * value;
    d0 += g * a0;
    d1 += g * a1;
    d2 += g * a2;
    d3 += g * a3;
    dm += g * value;
    const Acc spread = g * m;
    t0[j] += w[0] * spread;
    t1[j] += w[1] * spread;
    t2[j] += w[2] * spread;
    t3[j] += w[3] * spread;
  }
  gradient.dot[0] += d0;
  gradient.dot[1] += d1;
  gradient.dot[2] += d2;
  gradient.dot[3] += d3;
  gradient.mask += dm;
}

#define DEFORMVIZ_BACKWARD_RUN_PARAMETERS                                                     \
  const LocatedPoint<Acc>&point, const Acc *pixels, Acc *grad_pixels, int64_t channels,       \
      const Acc *zeros, Acc *sinks, int64_t length, const Acc *__restrict__ grad_column,      \
      Acc *__restrict__ column, PointGradient<Acc> &gradient
#define DEFORMVIZ_BACKWARD_RUN_ARGUMENTS \
  point, pixels, grad_pixels, channels, zeros, sinks, length, grad_column, column, gradient

template <typename Acc, bool kFinite>
void backward_run_baseline(DEFORMVIZ_BACKWARD_RUN_PARAMETERS) {
  backward_run_loop<Acc, kFinite>(DEFORMVIZ_BACKWARD_RUN_ARGUMENTS);
}

#if DEFORMVIZ_VECTOR_PATHS
template <typename Acc, bool kFinite>
DEFORMVIZ_TARGET_AVX2 void backward_run_avx2(DEFORMVIZ_BACKWARD_RUN_PARAMETERS) {
  backward_run_loop<Acc, kFinite>(DEFORMVIZ_BACKWARD_RUN_ARGUMENTS);
}

template <typename Acc, bool kFinite>
DEFORMVIZ_TARGET_AVX512 void backward_run_avx512(DEFORMVIZ_BACKWARD_RUN_PARAMETERS) {
  backward_run_loop<Acc, kFinite>(DEFORMVIZ_BACKWARD_RUN_ARGUMENTS);
}
#endif

template <typename Acc, bool kFinite>
inline void backward_run(DEFORMVIZ_BACKWARD_RUN_PARAMETERS) {
#if DEFORMVIZ_VECTOR_PATHS
  switch (vector_path()) {
    case VectorPath::kAvx512:
      return backward_run_avx512<Acc, kFinite>(DEFORMVIZ_BACKWARD_RUN_ARGUMENTS);
    case VectorPath::kAvx2:
      return backward_run_avx2<Acc, kFinite>(DEFORMVIZ_BACKWARD_RUN_ARGUMENTS);
    default:
      break;
  }
#endif
  backward_run_baseline<Acc, kFinite>(DEFORMVIZ_BACKWARD_RUN_ARGUMENTS);
}

#undef DEFORMVIZ_BACKWARD_RUN_PARAMETERS
#undef DEFORMVIZ_BACKWARD_RUN_ARGUMENTS

}  // namespace deformviz::cpu
