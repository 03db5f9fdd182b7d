// CUDA kernels of deform_roi_pool: one thread per output element (RoI, channel, bin) for the
// forward pass and the input gradient; one thread per (bin, slice of channels) for the offset
// gradient, which sums over channels.
#include "deformviz/cuda_launchers.h"
#include "deformviz/deform_roi_pool.h"
#include "device_support.cuh"

namespace deformviz::cuda {
namespace {

struct OutputElement {
  int64_t r, c, ph, pw;
};

__device__ __forceinline__ OutputElement output_element(const DeformRoIPoolShape& s,
                                                        int64_t index) {
  OutputElement e;
  e.pw = index % s.pooled_w;
  index /= s.pooled_w;
  e.ph = index % s.pooled_h;
  index /= s.pooled_h;
  e.c = index % s.channels;
  e.r = index / s.channels;
  return e;
}

template <typename T>
__global__ void forward_kernel(DeformRoIPoolShape s, const T* __restrict__ input,
                               const T* __restrict__ rois, const T* __restrict__ offset,
                               T* __restrict__ output) {
  DV_GRID_STRIDE_LOOP(index, s.num_rois * s.channels * s.bins()) {
    const OutputElement e = output_element(s, index);
    const RoIBin<Acc<T>> bin = roi_bin<Acc<T>>(s, rois, offset, e.r, e.ph, e.pw);
    output[index] = from_acc<T>(pool_bin<Acc<T>>(s, input, bin, e.c));
  }
}

template <typename T>
__global__ void input_gradient_kernel(DeformRoIPoolShape s, const T* __restrict__ grad_output,
                                      const T* __restrict__ rois, const T* __restrict__ offset,
                                      Acc<T>* __restrict__ grad_input) {
  DV_GRID_STRIDE_LOOP(index, s.num_rois * s.channels * s.bins()) {
    const OutputElement e = output_element(s, index);
    const RoIBin<Acc<T>> bin = roi_bin<Acc<T>>(s, rois, offset, e.r, e.ph, e.pw);
    pool_bin_input_gradient<Acc<T>>(s, bin, e.c, to_acc<Acc<T>>(grad_output[index]), grad_input,
                                    AtomicAdd{});
  }
}

template <typename T>
__global__ void offset_gradient_kernel(DeformRoIPoolShape s, const T* __restrict__ grad_output,
                                       const T* __restrict__ input, const T* __restrict__ rois,
                                       const T* __restrict__ offset,
                                       Acc<T>* __restrict__ grad_offset) {
  const int64_t bins = s.num_rois * s.bins();
  DV_GRID_STRIDE_LOOP(index, bins * ceil_div(s.channels, kChannelsPerThread)) {
    const int64_t bin_index = index % bins;
    const int64_t c_begin = (index / bins) * kChannelsPerThread;
    const int64_t c_end = min(c_begin + kChannelsPerThread, s.channels);
    const int64_t r = bin_index / s.bins();
    const int64_t ph = (bin_index % s.bins()) / s.pooled_w;
    const int64_t pw = bin_index % s.pooled_w;
    const RoIBin<Acc<T>> bin = roi_bin<Acc<T>>(s, rois, offset, r, ph, pw);
    Acc<T> gx, gy;
    pool_bin_offset_gradient<Acc<T>>(s, grad_output, input, bin, r, ph, pw, c_begin, c_end, gx, gy);
    const int64_t at = (r * 2 * s.pooled_h + ph) * s.pooled_w + pw;
    atomicAdd(grad_offset + at, gx);
    atomicAdd(grad_offset + at + s.bins(), gy);
  }
}

}  // namespace

template <typename T>
cudaError_t deform_roi_pool_forward(const DeformRoIPoolShape& s, const T* input, const T* rois,
                                    const T* offset, T* output, cudaStream_t stream) {
  const int64_t n = s.num_rois * s.channels * s.bins();
  if (n == 0) return cudaSuccess;
  forward_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(s, input, rois, offset, output);
  return cudaGetLastError();
}

template <typename T>
cudaError_t deform_roi_pool_backward(const DeformRoIPoolShape& s, const T* grad_output,
                                     const T* input, const T* rois, const T* offset,
                                     Acc<T>* grad_input, Acc<T>* grad_offset,
                                     cudaStream_t stream) {
  const int64_t n = s.num_rois * s.channels * s.bins();
  if (n == 0) return cudaSuccess;
  input_gradient_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(s, grad_output, rois,
                                                                          offset, grad_input);
  if (!s.has_offset) return cudaGetLastError();
  const int64_t m = s.num_rois * s.bins() * ceil_div(s.channels, kChannelsPerThread);
  offset_gradient_kernel<T><<<blocks_for(m), kThreadsPerBlock, 0, stream>>>(
      s, grad_output, input, rois, offset, grad_offset);
  return cudaGetLastError();
}

#define DV_INSTANTIATE_DEFORM_ROI_POOL(T)                                                      \
  template cudaError_t deform_roi_pool_forward<T>(const DeformRoIPoolShape&, const T*,         \
                                                  const T*, const T*, T*, cudaStream_t);       \
  template cudaError_t deform_roi_pool_backward<T>(const DeformRoIPoolShape&, const T*,        \
                                                   const T*, const T*, const T*, Acc<T>*,      \
                                                   Acc<T>*, cudaStream_t);

DV_INSTANTIATE_DEFORM_ROI_POOL(float)
DV_INSTANTIATE_DEFORM_ROI_POOL(double)
DV_INSTANTIATE_DEFORM_ROI_POOL(__half)
DV_INSTANTIATE_DEFORM_ROI_POOL(__nv_bfloat16)

}  // namespace deformviz::cuda
