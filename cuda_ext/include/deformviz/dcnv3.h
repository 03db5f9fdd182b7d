// DCNv3 (Wang et al., InternImage, CVPR 2023): the geometry of one sampling point, shared by the
// CPU and CUDA kernels. The bilinear math is bilinear.h's (zero-padding rule), as for
// deform_conv2d; only where a point samples and how the tensors are laid out differ.
//
//   out[b, oy, ox, g * Cg + c] = sum_p mask[b, oy, ox, g, p] * x_c(y_p, x_p)
//
// with no weights: the core of InternImage's DCNv3 module (its input_proj / output_proj Linear
// layers and the softmax that makes `mask` live outside). Layouts (contiguous, channels last):
//   input  [batch, height, width, channels]          channels = groups * Cg
//   offset [batch, out_h, out_w, groups, taps, 2]    (dx, dy) per point, in input cells
//   mask   [batch, out_h, out_w, groups, taps]       the modulation as used (no softmax here)
//   output [batch, out_h, out_w, channels]
// Point p = i * kernel_h + j, with i the x (column) index, the OUTER one, and j the y index:
// InternImage's order. Its position, in cells of the unpadded input (0 = first pixel's centre):
//   x = ox * stride_w - pad_w + cx + offset_scale * (i * dilation_w - cx + dx),
//   cx = dilation_w * (kernel_w - 1) / 2 (integer division), likewise y with j;
// offset_scale scales the regular grid as well as the learned offset.
#pragma once

#include <cstdint>

#include "deformviz/bilinear.h"
#include "deformviz/deform_conv.h"
#include "deformviz/portability.h"

namespace deformviz {

struct Dcnv3Shape {
  int64_t batch;
  int64_t height;
  int64_t width;
  int64_t channels;
  int64_t groups;
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
  double offset_scale;

  DV_HOST_DEVICE int64_t taps() const { return kernel_h * kernel_w; }
  DV_HOST_DEVICE int64_t positions() const { return out_h * out_w; }
  DV_HOST_DEVICE int64_t channels_per_group() const { return channels / groups; }
  // Output positions over the whole batch: position q = (b * out_h + oy) * out_w + ox.
  DV_HOST_DEVICE int64_t output_count() const { return batch * positions(); }
  // Index of point (q, g, p)'s dx in offset (dy follows) and of its modulation in mask.
  DV_HOST_DEVICE int64_t point_index(int64_t q, int64_t g, int64_t p) const {
    return (q * groups + g) * taps() + p;
  }
};

// Output position q (over the whole batch) and its row and column, split once per position:
// integer division is slow, and every point of the position shares them.
struct Dcnv3Output {
  int64_t q, oy, ox;
};
DV_HOST_DEVICE Dcnv3Output dcnv3_output(const Dcnv3Shape& s, int64_t q) {
  const int64_t row = q / s.out_w;
  return {q, row % s.out_h, q - row * s.out_w};
}

// Where point p = i * kernel_h + j of group g samples for output o, in input cells.
template <typename Acc, typename T>
DV_HOST_DEVICE void dcnv3_sampling_position(const Dcnv3Shape& s, const T* offset,
                                            const Dcnv3Output& o, int64_t g, int64_t i, int64_t j,
                                            Acc& y, Acc& x) {
  const int64_t cx = s.dilation_w * (s.kernel_w - 1) / 2;
  const int64_t cy = s.dilation_h * (s.kernel_h - 1) / 2;
  const int64_t at = 2 * s.point_index(o.q, g, i * s.kernel_h + j);
  const Acc scale = Acc(s.offset_scale);
  x = Acc(o.ox * s.stride_w - s.pad_w + cx) + scale * (Acc(i * s.dilation_w - cx) + to_acc<Acc>(offset[at]));
  y = Acc(o.oy * s.stride_h - s.pad_h + cy) + scale * (Acc(j * s.dilation_h - cy) + to_acc<Acc>(offset[at + 1]));
}

// A point's stencil and modulation. Stencil indices are pixel indices (y * width + x); in the
// channels-last layout a neighbour's channel vector starts at index * channels.
template <typename Acc, typename T>
DV_HOST_DEVICE LocatedPoint<Acc> dcnv3_locate(const Dcnv3Shape& s, const T* offset, const T* mask,
                                              const Dcnv3Output& o, int64_t g, int64_t i,
                                              int64_t j) {
  Acc y, x;
  dcnv3_sampling_position<Acc>(s, offset, o, g, i, j, y, x);
  return {zero_padded_stencil<Acc>(s.height, s.width, y, x),
          to_acc<Acc>(mask[s.point_index(o.q, g, i * s.kernel_h + j)])};
}

// The same stencil addressing channel c of a channels-last image directly: each index becomes
// index * channels, so bilinear.h's interpolate / interpolate_gradient / scatter apply to
// `image + c` (image = the batch element's [height, width, channels] data).
template <typename Acc>
DV_HOST_DEVICE BilinearStencil<Acc> channels_last_stencil(BilinearStencil<Acc> stencil,
                                                          int64_t channels) {
  for (int n = 0; n < 4; ++n) stencil.index[n] *= channels;
  return stencil;
}

// Pointer to batch element b's [height, width, channels] data.
template <typename T>
DV_HOST_DEVICE T* dcnv3_image(const Dcnv3Shape& s, T* tensor, int64_t b) {
  return tensor + b * s.height * s.width * s.channels;
}

}  // namespace deformviz
