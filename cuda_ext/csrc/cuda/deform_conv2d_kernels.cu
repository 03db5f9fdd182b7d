// CUDA kernels of deform_conv2d. Each thread handles one sampling point for a slice of
// kChannelsPerThread channels of its offset group; work items are ordered with the output
// position fastest, so neighbouring threads read neighbouring offsets and write neighbouring
// columns.
#include "deformviz/cuda_launchers.h"
#include "deformviz/deform_conv.h"
#include "device_support.cuh"

namespace deformviz::cuda {
namespace {

struct PointSlice {
  SamplingPointIndex point;
  int64_t c_begin;
  int64_t c_end;
};

__device__ __forceinline__ int64_t slices_per_group(const DeformConvShape& s) {
  return ceil_div(s.channels_per_offset_group(), kChannelsPerThread);
}

__device__ __forceinline__ PointSlice point_slice(const DeformConvShape& s, int64_t index) {
  const int64_t points = sampling_point_count(s);
  PointSlice slice;
  slice.point = sampling_point(s, index % points);
  const int64_t per_group = s.channels_per_offset_group();
  slice.c_begin = slice.point.g * per_group + (index / points) * kChannelsPerThread;
  slice.c_end = min(slice.c_begin + kChannelsPerThread, (slice.point.g + 1) * per_group);
  return slice;
}

template <typename T>
__global__ void im2col_kernel(DeformConvShape s, const T* __restrict__ input,
                              const T* __restrict__ offset, const T* __restrict__ mask,
                              T* __restrict__ columns) {
  DV_GRID_STRIDE_LOOP(index, sampling_point_count(s) * slices_per_group(s)) {
    const PointSlice w = point_slice(s, index);
    im2col_point<Acc<T>>(s, input, offset, mask, w.point.b, w.point.g, w.point.k, w.point.p,
                         w.c_begin, w.c_end, columns);
  }
}

template <typename T>
__global__ void col2im_kernel(DeformConvShape s, const T* __restrict__ grad_columns,
                              const T* __restrict__ offset, const T* __restrict__ mask,
                              Acc<T>* __restrict__ grad_input) {
  DV_GRID_STRIDE_LOOP(index, sampling_point_count(s) * slices_per_group(s)) {
    const PointSlice w = point_slice(s, index);
    col2im_point<Acc<T>>(s, grad_columns, offset, mask, w.point.b, w.point.g, w.point.k,
                         w.point.p, w.c_begin, w.c_end, grad_input, AtomicAdd{});
  }
}

template <typename T>
__global__ void offset_mask_gradient_kernel(DeformConvShape s, const T* __restrict__ grad_columns,
                                            const T* __restrict__ input,
                                            const T* __restrict__ offset,
                                            const T* __restrict__ mask,
                                            Acc<T>* __restrict__ grad_offset,
                                            Acc<T>* __restrict__ grad_mask) {
  DV_GRID_STRIDE_LOOP(index, sampling_point_count(s) * slices_per_group(s)) {
    const PointSlice w = point_slice(s, index);
    const SamplingPointIndex& pt = w.point;
    Acc<T> grad_dy, grad_dx, grad_m;
    offset_and_mask_gradient<Acc<T>>(s, grad_columns, input, offset, mask, pt.b, pt.g, pt.k,
                                     pt.p, w.c_begin, w.c_end, grad_dy, grad_dx, grad_m);
    // Slices of one point add into the same entries; one slice per point needs no atomics,
    // but the atomic is cheap next to the channel loop.
    const int64_t at = s.offset_index(pt.b, pt.g, pt.k, pt.p);
    atomicAdd(grad_offset + at, grad_dy);
    atomicAdd(grad_offset + at + s.positions(), grad_dx);
    if (s.has_mask) atomicAdd(grad_mask + s.mask_index(pt.b, pt.g, pt.k, pt.p), grad_m);
  }
}

int64_t work_items(const DeformConvShape& s) {
  return sampling_point_count(s) * ceil_div(s.channels_per_offset_group(), kChannelsPerThread);
}

}  // namespace

template <typename T>
cudaError_t deformable_im2col(const DeformConvShape& s, const T* input, const T* offset,
                              const T* mask, T* columns, cudaStream_t stream) {
  const int64_t n = work_items(s);
  if (n == 0) return cudaSuccess;
  im2col_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(s, input, offset, mask, columns);
  return cudaGetLastError();
}

template <typename T>
cudaError_t deformable_col2im(const DeformConvShape& s, const T* grad_columns, const T* offset,
                              const T* mask, Acc<T>* grad_input, cudaStream_t stream) {
  const int64_t n = work_items(s);
  if (n == 0) return cudaSuccess;
  col2im_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(s, grad_columns, offset, mask,
                                                                  grad_input);
  return cudaGetLastError();
}

template <typename T>
cudaError_t deformable_offset_mask_gradient(const DeformConvShape& s, const T* grad_columns,
                                            const T* input, const T* offset, const T* mask,
                                            Acc<T>* grad_offset, Acc<T>* grad_mask,
                                            cudaStream_t stream) {
  const int64_t n = work_items(s);
  if (n == 0) return cudaSuccess;
  offset_mask_gradient_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(
      s, grad_columns, input, offset, mask, grad_offset, grad_mask);
  return cudaGetLastError();
}

#define DV_INSTANTIATE_DEFORM_CONV(T)                                                          \
  template cudaError_t deformable_im2col<T>(const DeformConvShape&, const T*, const T*,        \
                                            const T*, T*, cudaStream_t);                       \
  template cudaError_t deformable_col2im<T>(const DeformConvShape&, const T*, const T*,        \
                                            const T*, Acc<T>*, cudaStream_t);                  \
  template cudaError_t deformable_offset_mask_gradient<T>(const DeformConvShape&, const T*,    \
                                                          const T*, const T*, const T*,        \
                                                          Acc<T>*, Acc<T>*, cudaStream_t);

DV_INSTANTIATE_DEFORM_CONV(float)
DV_INSTANTIATE_DEFORM_CONV(double)
DV_INSTANTIATE_DEFORM_CONV(__half)
DV_INSTANTIATE_DEFORM_CONV(__nv_bfloat16)

}  // namespace deformviz::cuda
