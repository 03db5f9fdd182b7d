// Deformable RoI pooling: where each bin of a box lies and the per-element work of the forward
// and backward passes, shared by the CPU and CUDA kernels.
//
// Layouts (contiguous):
//   input  [batch, channels, height, width]
//   rois   [num_rois, 5] = (batch index, x1, y1, x2, y2) in image pixels
//   offset [num_rois, 2, pooled_h, pooled_w]; channel 0 = x, 1 = y (normalised, x first)
//   output [num_rois, channels, pooled_h, pooled_w]
// Boxes map to feature cells as box * spatial_scale - 0.5 ("aligned", no rounding). Bin (i, j)
// starts at (y1 + i * bin_h, x1 + j * bin_w), is shifted by gamma * (roi_w, roi_h) * offset,
// and averages a grid of bilinear samples placed at the centres of its sub-bins.
#pragma once

#include <cmath>
#include <cstdint>

#include "deformviz/bilinear.h"
#include "deformviz/portability.h"

namespace deformviz {

struct DeformRoIPoolShape {
  int64_t batch;
  int64_t channels;
  int64_t height;
  int64_t width;
  int64_t num_rois;
  int64_t pooled_h;
  int64_t pooled_w;
  double spatial_scale;
  int64_t sampling_ratio;  // samples per bin side; 0 = ceil(roi size / pooled size)
  double gamma;
  bool has_offset;

  DV_HOST_DEVICE int64_t bins() const { return pooled_h * pooled_w; }
};

// One bin of one RoI, in feature cells.
template <typename Acc>
struct RoIBin {
  int64_t batch_index;  // -1 when the RoI names no image of the batch: the bin then reads 0
  Acc start_y;
  Acc start_x;
  Acc bin_h;
  Acc bin_w;
  int64_t grid_h;
  int64_t grid_w;
  Acc offset_scale_y;  // d(start_y) / d(offset[1]) = gamma * roi_h
  Acc offset_scale_x;  // d(start_x) / d(offset[0]) = gamma * roi_w

  DV_HOST_DEVICE int64_t sample_count() const {
    const int64_t n = grid_h * grid_w;
    return n > 0 ? n : 1;
  }
  DV_HOST_DEVICE Acc sample_y(int64_t iy) const {
    return start_y + (Acc(iy) + Acc(0.5)) * bin_h / Acc(grid_h);
  }
  DV_HOST_DEVICE Acc sample_x(int64_t ix) const {
    return start_x + (Acc(ix) + Acc(0.5)) * bin_w / Acc(grid_w);
  }
};

// The most samples per bin side that sampling_ratio = 0 chooses. It bounds the work of a bin
// whatever the box (an absurd or infinite box would otherwise loop for ever, or convert an
// out-of-range float to an integer); bins wider than this many feature cells are sampled more
// sparsely than one sample per cell. deformviz.ops.reference applies the same bound.
constexpr int64_t kMaxAdaptiveSamplesPerSide = 128;

// Samples per bin side when sampling_ratio is 0: about one per feature cell. Empty, inverted and
// non-finite bins get no samples (and pool to 0).
template <typename Acc>
DV_HOST_DEVICE int64_t adaptive_grid(Acc bin_size) {
  const bool finite = bin_size - bin_size == Acc(0);  // false for Inf and NaN
  if (!finite || !(bin_size > Acc(0))) return 0;
  if (bin_size >= Acc(kMaxAdaptiveSamplesPerSide)) return kMaxAdaptiveSamplesPerSide;
  return static_cast<int64_t>(ceil(bin_size));
}

template <typename Acc, typename T>
DV_HOST_DEVICE RoIBin<Acc> roi_bin(const DeformRoIPoolShape& s, const T* rois, const T* offset,
                                   int64_t r, int64_t ph, int64_t pw) {
  const T* roi = rois + r * 5;
  RoIBin<Acc> bin;
  // Range-checked before the conversion: casting NaN, Inf or a huge float to int64 is undefined.
  const Acc batch_value = to_acc<Acc>(roi[0]);
  bin.batch_index = (batch_value >= Acc(0) && batch_value < Acc(s.batch))
                        ? static_cast<int64_t>(batch_value)
                        : int64_t(-1);
  const Acc scale = Acc(s.spatial_scale);
  const Acc x1 = to_acc<Acc>(roi[1]) * scale - Acc(0.5);
  const Acc y1 = to_acc<Acc>(roi[2]) * scale - Acc(0.5);
  const Acc roi_w = to_acc<Acc>(roi[3]) * scale - Acc(0.5) - x1;
  const Acc roi_h = to_acc<Acc>(roi[4]) * scale - Acc(0.5) - y1;
  bin.bin_h = roi_h / Acc(s.pooled_h);
  bin.bin_w = roi_w / Acc(s.pooled_w);
  bin.grid_h = s.sampling_ratio > 0 ? s.sampling_ratio : adaptive_grid(bin.bin_h);
  bin.grid_w = s.sampling_ratio > 0 ? s.sampling_ratio : adaptive_grid(bin.bin_w);
  bin.offset_scale_y = Acc(s.gamma) * roi_h;
  bin.offset_scale_x = Acc(s.gamma) * roi_w;
  bin.start_y = y1 + Acc(ph) * bin.bin_h;
  bin.start_x = x1 + Acc(pw) * bin.bin_w;
  if (s.has_offset) {
    const int64_t at = (r * 2 * s.pooled_h + ph) * s.pooled_w + pw;
    bin.start_x += bin.offset_scale_x * to_acc<Acc>(offset[at]);
    bin.start_y += bin.offset_scale_y * to_acc<Acc>(offset[at + s.bins()]);
  }
  return bin;
}

template <typename T>
DV_HOST_DEVICE T* roi_plane(const DeformRoIPoolShape& s, T* tensor, int64_t b, int64_t c) {
  return tensor + (b * s.channels + c) * s.height * s.width;
}

// Mean of the bin's samples in channel c.
template <typename Acc, typename T>
DV_HOST_DEVICE Acc pool_bin(const DeformRoIPoolShape& s, const T* input, const RoIBin<Acc>& bin,
                            int64_t c) {
  if (bin.batch_index < 0) return Acc(0);
  const T* image = roi_plane(s, input, bin.batch_index, c);
  Acc sum = Acc(0);
  for (int64_t iy = 0; iy < bin.grid_h; ++iy) {
    for (int64_t ix = 0; ix < bin.grid_w; ++ix) {
      const BilinearStencil<Acc> stencil =
          roi_align_stencil<Acc>(s.height, s.width, bin.sample_y(iy), bin.sample_x(ix));
      sum += interpolate<Acc>(image, stencil);
    }
  }
  return sum / Acc(bin.sample_count());
}

// Adds d(loss)/d(input) of one bin's output in channel c (upstream = d(loss)/d(output)).
template <typename Acc, typename Add>
DV_HOST_DEVICE void pool_bin_input_gradient(const DeformRoIPoolShape& s, const RoIBin<Acc>& bin,
                                            int64_t c, Acc upstream, Acc* grad_input,
                                            const Add& add) {
  if (bin.batch_index < 0) return;
  Acc* image = roi_plane(s, grad_input, bin.batch_index, c);
  const Acc share = upstream / Acc(bin.sample_count());
  for (int64_t iy = 0; iy < bin.grid_h; ++iy) {
    for (int64_t ix = 0; ix < bin.grid_w; ++ix) {
      const BilinearStencil<Acc> stencil =
          roi_align_stencil<Acc>(s.height, s.width, bin.sample_y(iy), bin.sample_x(ix));
      scatter(image, stencil, share, add);
    }
  }
}

// d(loss)/d(offset) of one bin, summed over channels [c_begin, c_end) (all channels give the
// full gradient): every sample of the bin moves with the bin's offset, so the derivative is the
// mean sample gradient times gamma * roi size.
template <typename Acc, typename T>
DV_HOST_DEVICE void pool_bin_offset_gradient(const DeformRoIPoolShape& s, const T* grad_output,
                                             const T* input, const RoIBin<Acc>& bin, int64_t r,
                                             int64_t ph, int64_t pw, int64_t c_begin,
                                             int64_t c_end, Acc& grad_offset_x,
                                             Acc& grad_offset_y) {
  grad_offset_x = grad_offset_y = Acc(0);
  // A bin without samples does not depend on its offset; its scale may be Inf (Inf x 0 = NaN).
  if (bin.batch_index < 0 || bin.grid_h * bin.grid_w == 0) return;
  for (int64_t iy = 0; iy < bin.grid_h; ++iy) {
    for (int64_t ix = 0; ix < bin.grid_w; ++ix) {
      const BilinearStencil<Acc> stencil =
          roi_align_stencil<Acc>(s.height, s.width, bin.sample_y(iy), bin.sample_x(ix));
      for (int64_t c = c_begin; c < c_end; ++c) {
        const Acc upstream =
            to_acc<Acc>(grad_output[((r * s.channels + c) * s.pooled_h + ph) * s.pooled_w + pw]);
        Acc d_dy, d_dx;
        interpolate_gradient<Acc>(roi_plane(s, input, bin.batch_index, c), stencil, d_dy, d_dx);
        grad_offset_y += upstream * d_dy;
        grad_offset_x += upstream * d_dx;
      }
    }
  }
  // Zero stays zero (an infinite box has an infinite scale).
  const Acc per_sample = Acc(1) / Acc(bin.sample_count());
  if (grad_offset_x != Acc(0)) grad_offset_x *= per_sample * bin.offset_scale_x;
  if (grad_offset_y != Acc(0)) grad_offset_y *= per_sample * bin.offset_scale_y;
}

}  // namespace deformviz
