// Deformable convolution: the geometry of one sampling point and the per-element work of the
// im2col formulation, shared by the CPU and CUDA kernels.
//
// y(p0) = sum_k w_k * m_k * x(p0 + p_k + dp_k) is computed as a GEMM of the weights with a
// "column" matrix that holds every bilinear sample m_k * x(p0 + p_k + dp_k):
//
//   columns [channels * taps, batch * out_h * out_w], row c * taps + k, column b * P + p
//
// where P = out_h * out_w and p = oy * out_w + ox. Layouts of the other tensors (contiguous):
//   input  [batch, channels, height, width]
//   offset [batch, offset_groups * 2 * taps, out_h, out_w]; channel g*2*taps + 2k is dy, +1 dx
//   mask   [batch, offset_groups * taps, out_h, out_w]; channel g*taps + k
// All positions are in input cells.
#pragma once

#include <cstdint>

#include "deformviz/bilinear.h"
#include "deformviz/portability.h"

namespace deformviz {

struct DeformConvShape {
  int64_t batch;
  int64_t channels;
  int64_t height;
  int64_t width;
  int64_t kernel_h;
  int64_t kernel_w;
  int64_t stride_h;
  int64_t stride_w;
  int64_t pad_h;
  int64_t pad_w;
  int64_t dilation_h;
  int64_t dilation_w;
  int64_t out_h;
  int64_t out_w;
  int64_t offset_groups;
  bool has_mask;

  DV_HOST_DEVICE int64_t taps() const { return kernel_h * kernel_w; }
  DV_HOST_DEVICE int64_t positions() const { return out_h * out_w; }
  DV_HOST_DEVICE int64_t channels_per_offset_group() const { return channels / offset_groups; }
  DV_HOST_DEVICE int64_t column_count() const { return batch * positions(); }

  // Flat index of the dy entry for (image b, offset group g, tap k, output position p);
  // the dx entry is positions() further on.
  DV_HOST_DEVICE int64_t offset_index(int64_t b, int64_t g, int64_t k, int64_t p) const {
    return ((b * offset_groups + g) * 2 * taps() + 2 * k) * positions() + p;
  }
  DV_HOST_DEVICE int64_t mask_index(int64_t b, int64_t g, int64_t k, int64_t p) const {
    return ((b * offset_groups + g) * taps() + k) * positions() + p;
  }
  DV_HOST_DEVICE int64_t column_index(int64_t c, int64_t k, int64_t b, int64_t p) const {
    return (c * taps() + k) * column_count() + b * positions() + p;
  }
};

// A sampling point: (image b, offset group g, tap k, output position p), enumerated with p
// fastest so neighbouring threads touch neighbouring memory.
struct SamplingPointIndex {
  int64_t b, g, k, p;
};
DV_HOST_DEVICE int64_t sampling_point_count(const DeformConvShape& s) {
  return s.batch * s.offset_groups * s.taps() * s.positions();
}
DV_HOST_DEVICE SamplingPointIndex sampling_point(const DeformConvShape& s, int64_t index) {
  SamplingPointIndex point;
  point.p = index % s.positions();
  index /= s.positions();
  point.k = index % s.taps();
  index /= s.taps();
  point.g = index % s.offset_groups;
  point.b = index / s.offset_groups;
  return point;
}

// Where tap k of output position p samples image b in offset group g: p0 + p_k + dp_k.
template <typename Acc, typename T>
DV_HOST_DEVICE void sampling_position(const DeformConvShape& s, const T* offset, int64_t b,
                                      int64_t g, int64_t k, int64_t p, Acc& y, Acc& x) {
  const int64_t oy = p / s.out_w;
  const int64_t ox = p - oy * s.out_w;
  const int64_t i = k / s.kernel_w;
  const int64_t j = k - i * s.kernel_w;
  const int64_t at = s.offset_index(b, g, k, p);
  y = Acc(oy * s.stride_h - s.pad_h + i * s.dilation_h) + to_acc<Acc>(offset[at]);
  x = Acc(ox * s.stride_w - s.pad_w + j * s.dilation_w) + to_acc<Acc>(offset[at + s.positions()]);
}

template <typename Acc, typename T>
DV_HOST_DEVICE Acc modulation(const DeformConvShape& s, const T* mask, int64_t b, int64_t g,
                              int64_t k, int64_t p) {
  return s.has_mask ? to_acc<Acc>(mask[s.mask_index(b, g, k, p)]) : Acc(1);
}

// Pointer to the plane of image b, channel c.
template <typename T>
DV_HOST_DEVICE T* plane(const DeformConvShape& s, T* tensor, int64_t b, int64_t c) {
  return tensor + (b * s.channels + c) * s.height * s.width;
}

// A sampling point's bilinear stencil and modulation: computed once, reused for every channel.
template <typename Acc>
struct LocatedPoint {
  BilinearStencil<Acc> stencil;
  Acc modulation;
};

template <typename Acc, typename T>
DV_HOST_DEVICE LocatedPoint<Acc> locate(const DeformConvShape& s, const T* offset, const T* mask,
                                        int64_t b, int64_t g, int64_t k, int64_t p) {
  Acc y, x;
  sampling_position<Acc>(s, offset, b, g, k, p, y, x);
  return {zero_padded_stencil<Acc>(s.height, s.width, y, x), modulation<Acc>(s, mask, b, g, k, p)};
}

// Adds one channel's share of a sampling point's offset and mask gradients: `upstream` is the
// point's column gradient in that channel, `image` the channel's input plane.
template <typename Acc, typename T>
DV_HOST_DEVICE void accumulate_offset_gradient(const T* image, const LocatedPoint<Acc>& point,
                                               Acc upstream, bool has_mask, Acc& grad_dy,
                                               Acc& grad_dx, Acc& grad_mask) {
  Acc d_dy, d_dx;
  interpolate_gradient<Acc>(image, point.stencil, d_dy, d_dx);
  grad_dy += upstream * point.modulation * d_dy;
  grad_dx += upstream * point.modulation * d_dx;
  if (has_mask) grad_mask += upstream * interpolate<Acc>(image, point.stencil);
}

// Writes the column entries of one sampling point (image b, offset group g, tap k, position p)
// for channels [c_begin, c_end) of that group: m * x_c(p0 + p_k + dp_k).
template <typename Acc, typename T>
DV_HOST_DEVICE void im2col_point(const DeformConvShape& s, const T* input, const T* offset,
                                 const T* mask, int64_t b, int64_t g, int64_t k, int64_t p,
                                 int64_t c_begin, int64_t c_end, T* columns) {
  const LocatedPoint<Acc> point = locate<Acc>(s, offset, mask, b, g, k, p);
  for (int64_t c = c_begin; c < c_end; ++c) {
    const Acc value = point.modulation * interpolate<Acc>(plane(s, input, b, c), point.stencil);
    columns[s.column_index(c, k, b, p)] = from_acc<T>(value);
  }
}

// Adds the input gradient of one sampling point for channels [c_begin, c_end) of its offset
// group: the column gradient times m, spread bilinearly over the four neighbours.
template <typename Acc, typename T, typename Add>
DV_HOST_DEVICE void col2im_point(const DeformConvShape& s, const T* grad_columns,
                                 const T* offset, const T* mask, int64_t b, int64_t g, int64_t k,
                                 int64_t p, int64_t c_begin, int64_t c_end, Acc* grad_input,
                                 const Add& add) {
  const LocatedPoint<Acc> point = locate<Acc>(s, offset, mask, b, g, k, p);
  for (int64_t c = c_begin; c < c_end; ++c) {
    const Acc upstream = to_acc<Acc>(grad_columns[s.column_index(c, k, b, p)]);
    scatter(plane(s, grad_input, b, c), point.stencil, upstream * point.modulation, add);
  }
}

// Gradient of the loss with respect to one sampling point's (dy, dx) and mask, summed over
// the column gradients of channels [c_begin, c_end) of its offset group (the whole group gives
// the full gradient). Channels are the inner loop so the position and the stencil are computed
// once and reused across them.
template <typename Acc, typename T>
DV_HOST_DEVICE void offset_and_mask_gradient(const DeformConvShape& s, const T* grad_columns,
                                             const T* input, const T* offset, const T* mask,
                                             int64_t b, int64_t g, int64_t k, int64_t p,
                                             int64_t c_begin, int64_t c_end, Acc& grad_dy,
                                             Acc& grad_dx, Acc& grad_mask) {
  const LocatedPoint<Acc> point = locate<Acc>(s, offset, mask, b, g, k, p);
  grad_dy = grad_dx = grad_mask = Acc(0);
  for (int64_t c = c_begin; c < c_end; ++c) {
    const Acc upstream = to_acc<Acc>(grad_columns[s.column_index(c, k, b, p)]);
    accumulate_offset_gradient<Acc>(plane(s, input, b, c), point, upstream, s.has_mask, grad_dy,
                                    grad_dx, grad_mask);
  }
}

}  // namespace deformviz
