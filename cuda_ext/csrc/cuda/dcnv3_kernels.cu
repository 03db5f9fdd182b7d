// CUDA kernels of dcnv3: one thread per output element (position, channel), channels fastest,
// so neighbouring threads read neighbouring channels of the same pixels (channels last) and
// share their point's offsets and modulation. The math is deformviz/dcnv3.h's and bilinear.h's.
#include "deformviz/dcnv3.h"
#include "deformviz/dcnv3_launchers.h"
#include "device_support.cuh"

namespace deformviz::cuda {
namespace {

template <typename T>
using Acc = typename AccumulateType<T>::type;

template <typename T>
__global__ void dcnv3_forward_kernel(Dcnv3Shape s, const T* __restrict__ input,
                                     const T* __restrict__ offset, const T* __restrict__ mask,
                                     T* __restrict__ output) {
  DV_GRID_STRIDE_LOOP(index, s.output_count() * s.channels) {
    const int64_t c = index % s.channels;
    const Dcnv3Output o = dcnv3_output(s, index / s.channels);
    const int64_t g = c / s.channels_per_group();
    const T* image = dcnv3_image(s, input, o.q / s.positions()) + c;
    Acc<T> value = Acc<T>(0);
    for (int64_t i = 0; i < s.kernel_w; ++i) {
      for (int64_t j = 0; j < s.kernel_h; ++j) {
        const LocatedPoint<Acc<T>> point = dcnv3_locate<Acc<T>>(s, offset, mask, o, g, i, j);
        value += point.modulation *
                 interpolate<Acc<T>>(image, channels_last_stencil(point.stencil, s.channels));
      }
    }
    output[index] = from_acc<T>(value);
  }
}

// Each thread adds its channel's share of the input, offset and mask gradients; the offset and
// mask gradients of a point sum over the group's channels, so they are added atomically.
template <typename T>
__global__ void dcnv3_backward_kernel(Dcnv3Shape s, const T* __restrict__ grad_output,
                                      const T* __restrict__ input, const T* __restrict__ offset,
                                      const T* __restrict__ mask, Acc<T>* __restrict__ grad_input,
                                      Acc<T>* __restrict__ grad_offset,
                                      Acc<T>* __restrict__ grad_mask) {
  const Acc<T> scale = Acc<T>(s.offset_scale);
  DV_GRID_STRIDE_LOOP(index, s.output_count() * s.channels) {
    const int64_t c = index % s.channels;
    const Dcnv3Output o = dcnv3_output(s, index / s.channels);
    const int64_t g = c / s.channels_per_group();
    const int64_t b = o.q / s.positions();
    const T* image = dcnv3_image(s, input, b) + c;
    Acc<T>* grad_image = dcnv3_image(s, grad_input, b) + c;
    const Acc<T> upstream = to_acc<Acc<T>>(grad_output[index]);
    for (int64_t i = 0; i < s.kernel_w; ++i) {
      for (int64_t j = 0; j < s.kernel_h; ++j) {
        const LocatedPoint<Acc<T>> point = dcnv3_locate<Acc<T>>(s, offset, mask, o, g, i, j);
        const BilinearStencil<Acc<T>> stencil = channels_last_stencil(point.stencil, s.channels);
        scatter(grad_image, stencil, upstream * point.modulation, AtomicAdd{});
        Acc<T> d_dy, d_dx;
        interpolate_gradient<Acc<T>>(image, stencil, d_dy, d_dx);
        const int64_t at = s.point_index(o.q, g, i * s.kernel_h + j);
        const Acc<T> spread = upstream * point.modulation * scale;
        atomicAdd(grad_offset + 2 * at, spread * d_dx);
        atomicAdd(grad_offset + 2 * at + 1, spread * d_dy);
        atomicAdd(grad_mask + at, upstream * interpolate<Acc<T>>(image, stencil));
      }
    }
  }
}

}  // namespace

template <typename T>
cudaError_t dcnv3_forward(const Dcnv3Shape& s, const T* input, const T* offset, const T* mask,
                          T* output, cudaStream_t stream) {
  const int64_t n = s.output_count() * s.channels;
  if (n == 0) return cudaSuccess;
  dcnv3_forward_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(s, input, offset, mask,
                                                                          output);
  return cudaGetLastError();
}

template <typename T>
cudaError_t dcnv3_backward(const Dcnv3Shape& s, const T* grad_output, const T* input,
                           const T* offset, const T* mask, Acc<T>* grad_input,
                           Acc<T>* grad_offset, Acc<T>* grad_mask, cudaStream_t stream) {
  const int64_t n = s.output_count() * s.channels;
  if (n == 0) return cudaSuccess;
  dcnv3_backward_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, stream>>>(
      s, grad_output, input, offset, mask, grad_input, grad_offset, grad_mask);
  return cudaGetLastError();
}

#define DV_INSTANTIATE_DCNV3(T)                                                                \
  template cudaError_t dcnv3_forward<T>(const Dcnv3Shape&, const T*, const T*, const T*, T*,   \
                                        cudaStream_t);                                         \
  template cudaError_t dcnv3_backward<T>(const Dcnv3Shape&, const T*, const T*, const T*,      \
                                         const T*, Acc<T>*, Acc<T>*, Acc<T>*, cudaStream_t);

DV_INSTANTIATE_DCNV3(float)
DV_INSTANTIATE_DCNV3(double)
DV_INSTANTIATE_DCNV3(__half)
DV_INSTANTIATE_DCNV3(__nv_bfloat16)

}  // namespace deformviz::cuda
