// Entry points of the dcnv3 CUDA kernels: raw pointers, a shape and a stream; no torch. Defined
// and instantiated for float, double, __half and __nv_bfloat16 in csrc/cuda/dcnv3_kernels.cu;
// each returns the launch's cudaError_t.
//
// The gradients, which many threads add into, are accumulated in AccumulateType<T> (float, or
// double for double) buffers that the caller zeroes beforehand.
#pragma once

#include <cuda_runtime_api.h>

#include "deformviz/dcnv3.h"
#include "deformviz/portability.h"

namespace deformviz::cuda {

template <typename T>
cudaError_t dcnv3_forward(const Dcnv3Shape& s, const T* input, const T* offset, const T* mask,
                          T* output, cudaStream_t stream);

template <typename T>
cudaError_t dcnv3_backward(const Dcnv3Shape& s, const T* grad_output, const T* input,
                           const T* offset, const T* mask,
                           typename AccumulateType<T>::type* grad_input,
                           typename AccumulateType<T>::type* grad_offset,
                           typename AccumulateType<T>::type* grad_mask, cudaStream_t stream);

}  // namespace deformviz::cuda
