// Entry points of the CUDA kernels: raw pointers, a shape and a stream; no torch. Defined and
// instantiated for float, double, __half and __nv_bfloat16 in csrc/cuda/*.cu. Every launcher
// returns the launch's cudaError_t.
//
// Gradients that many threads add into (grad_input, grad_offset, grad_mask) are accumulated in
// AccumulateType<T> (float, or double for double) buffers that the caller zeroes beforehand.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "deformviz/deform_conv.h"
#include "deformviz/deform_roi_pool.h"
#include "deformviz/portability.h"

namespace deformviz::cuda {

template <typename T>
using Acc = typename AccumulateType<T>::type;

template <typename T>
cudaError_t deformable_im2col(const DeformConvShape& s, const T* input, const T* offset,
                              const T* mask, T* columns, cudaStream_t stream);

template <typename T>
cudaError_t deformable_col2im(const DeformConvShape& s, const T* grad_columns, const T* offset,
                              const T* mask, Acc<T>* grad_input, cudaStream_t stream);

template <typename T>
cudaError_t deformable_offset_mask_gradient(const DeformConvShape& s, const T* grad_columns,
                                            const T* input, const T* offset, const T* mask,
                                            Acc<T>* grad_offset, Acc<T>* grad_mask,
                                            cudaStream_t stream);

template <typename T>
cudaError_t deform_roi_pool_forward(const DeformRoIPoolShape& s, const T* input, const T* rois,
                                    const T* offset, T* output, cudaStream_t stream);

template <typename T>
cudaError_t deform_roi_pool_backward(const DeformRoIPoolShape& s, const T* grad_output,
                                     const T* input, const T* rois, const T* offset,
                                     Acc<T>* grad_input, Acc<T>* grad_offset,
                                     cudaStream_t stream);

}  // namespace deformviz::cuda
