// Bilinear interpolation of one image plane at a fractional position, and its derivatives.
//
// Torch-free and shared by the CPU and CUDA kernels, so the sampling math has exactly one
// source. Two border rules exist, because the two operators follow different conventions:
//
// * zero padding (deformable convolution, DCNv2 / torchvision / mmcv): a sample with
//   y <= -1, y >= H, x <= -1 or x >= W reads 0; otherwise the four integer neighbours are
//   read, with neighbours outside the image reading 0.
// * RoIAlign (deformable RoI pooling, mmcv): a sample with y < -1, y > H (same for x) reads 0;
//   otherwise the position is clamped into [0, H-1] x [0, W-1] before interpolating, so the
//   border row and column are repeated.
//
// Positions are in the plane's own cells: (0, 0) is the centre of the top-left element.
//
// Terms of weight 0 are skipped, never evaluated: a neighbour outside the plane is not read at
// all (an empty plane has no element to read), and an in-plane neighbour that a sample on a
// pixel gives weight 0 is not multiplied either, because 0 x Inf is NaN. Inf and NaN in the
// input therefore reach exactly the outputs the bilinear formula says they reach; for samples on
// pixels that is what an ordinary convolution gives.
#pragma once

#include <cmath>
#include <cstdint>

#include "deformviz/portability.h"

namespace deformviz {

// The four neighbours of a sample, as flat indices into a row-major plane with a weight each.
// A neighbour outside the plane has all weights 0 and index 0; the functions below never touch
// memory for a term whose weight is 0.
template <typename Acc>
struct BilinearStencil {
  int64_t index[4];
  Acc weight[4];
  // Derivative of each weight with respect to the sample's y and x position.
  Acc weight_dy[4];
  Acc weight_dx[4];
};

namespace detail {

// Fills `stencil` for the neighbours (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1) with
// fractional parts (ly, lx); neighbours outside [0, height) x [0, width) get weight 0.
template <typename Acc>
DV_HOST_DEVICE void fill_stencil(BilinearStencil<Acc>& stencil, int64_t height, int64_t width,
                                 int64_t y0, int64_t x0, int64_t y1, int64_t x1, Acc ly, Acc lx,
                                 bool y_moves, bool x_moves) {
  const Acc hy = Acc(1) - ly;
  const Acc hx = Acc(1) - lx;
  const int64_t ys[4] = {y0, y0, y1, y1};
  const int64_t xs[4] = {x0, x1, x0, x1};
  const Acc wy[4] = {hy, hy, ly, ly};
  const Acc wx[4] = {hx, lx, hx, lx};
  // d(wy)/dy is -1 for the upper row and +1 for the lower one; 0 where the position is clamped.
  const Acc dwy[4] = {Acc(-1), Acc(-1), Acc(1), Acc(1)};
  const Acc dwx[4] = {Acc(-1), Acc(1), Acc(-1), Acc(1)};
  for (int n = 0; n < 4; ++n) {
    const bool inside = ys[n] >= 0 && ys[n] < height && xs[n] >= 0 && xs[n] < width;
    stencil.index[n] = inside ? ys[n] * width + xs[n] : 0;
    stencil.weight[n] = inside ? wy[n] * wx[n] : Acc(0);
    stencil.weight_dy[n] = (inside && y_moves) ? dwy[n] * wx[n] : Acc(0);
    stencil.weight_dx[n] = (inside && x_moves) ? wy[n] * dwx[n] : Acc(0);
  }
}

template <typename Acc>
DV_HOST_DEVICE void clear_stencil(BilinearStencil<Acc>& stencil) {
  for (int n = 0; n < 4; ++n) {
    stencil.index[n] = 0;
    stencil.weight[n] = stencil.weight_dy[n] = stencil.weight_dx[n] = Acc(0);
  }
}

}  // namespace detail

// Stencil under the zero-padding rule of deformable convolution.
template <typename Acc>
DV_HOST_DEVICE BilinearStencil<Acc> zero_padded_stencil(int64_t height, int64_t width, Acc y,
                                                        Acc x) {
  BilinearStencil<Acc> stencil;
  if (!(y > Acc(-1) && y < Acc(height) && x > Acc(-1) && x < Acc(width))) {
    // The negated form also sends NaN positions here.
    detail::clear_stencil(stencil);
    return stencil;
  }
  const int64_t y0 = static_cast<int64_t>(floor(y));
  const int64_t x0 = static_cast<int64_t>(floor(x));
  detail::fill_stencil(stencil, height, width, y0, x0, y0 + 1, x0 + 1, y - Acc(y0), x - Acc(x0),
                       true, true);
  return stencil;
}

// Stencil under the RoIAlign rule of deformable RoI pooling.
template <typename Acc>
DV_HOST_DEVICE BilinearStencil<Acc> roi_align_stencil(int64_t height, int64_t width, Acc y,
                                                      Acc x) {
  BilinearStencil<Acc> stencil;
  if (!(y >= Acc(-1) && y <= Acc(height) && x >= Acc(-1) && x <= Acc(width))) {
    detail::clear_stencil(stencil);
    return stencil;
  }
  // Clamping makes the sample constant in that direction, so its derivative there is 0.
  bool y_moves = y > Acc(0);
  bool x_moves = x > Acc(0);
  if (!y_moves) y = Acc(0);
  if (!x_moves) x = Acc(0);
  int64_t y0 = static_cast<int64_t>(y);
  int64_t x0 = static_cast<int64_t>(x);
  int64_t y1 = y0 + 1;
  int64_t x1 = x0 + 1;
  if (y0 >= height - 1) {
    y0 = y1 = height - 1;
    y = Acc(y0);
    y_moves = false;
  }
  if (x0 >= width - 1) {
    x0 = x1 = width - 1;
    x = Acc(x0);
    x_moves = false;
  }
  detail::fill_stencil(stencil, height, width, y0, x0, y1, x1, y - Acc(y0), x - Acc(x0), y_moves,
                       x_moves);
  return stencil;
}

// Value of `plane` under a stencil, accumulated in Acc.
template <typename Acc, typename T>
DV_HOST_DEVICE Acc interpolate(const T* plane, const BilinearStencil<Acc>& stencil) {
  Acc value = Acc(0);
  for (int n = 0; n < 4; ++n) {
    if (stencil.weight[n] != Acc(0)) value += stencil.weight[n] * to_acc<Acc>(plane[stencil.index[n]]);
  }
  return value;
}

// Derivative of the interpolated value with respect to the sample position (y, x).
template <typename Acc, typename T>
DV_HOST_DEVICE void interpolate_gradient(const T* plane, const BilinearStencil<Acc>& stencil,
                                         Acc& d_dy, Acc& d_dx) {
  d_dy = Acc(0);
  d_dx = Acc(0);
  for (int n = 0; n < 4; ++n) {
    const bool dy = stencil.weight_dy[n] != Acc(0);
    const bool dx = stencil.weight_dx[n] != Acc(0);
    if (!dy && !dx) continue;
    const Acc v = to_acc<Acc>(plane[stencil.index[n]]);
    if (dy) d_dy += stencil.weight_dy[n] * v;
    if (dx) d_dx += stencil.weight_dx[n] * v;
  }
}

// Adds `value` spread over the stencil's neighbours into `plane` with `add(pointer, amount)`,
// a plain += on the CPU (one writer per plane) and an atomicAdd on the GPU.
template <typename Acc, typename AccPtr, typename Add>
DV_HOST_DEVICE void scatter(AccPtr plane, const BilinearStencil<Acc>& stencil, Acc value,
                            const Add& add) {
  for (int n = 0; n < 4; ++n) {
    if (stencil.weight[n] != Acc(0)) add(plane + stencil.index[n], stencil.weight[n] * value);
  }
}

}  // namespace deformviz
