// Host-side helpers shared by the CUDA op registrations: mapping torch's element types to CUDA's,
// the current stream, and accumulation buffers.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace deformviz::cuda {

// at::Half and __half (likewise the bfloat16 pair) share their bit layout.
template <typename T>
struct DeviceType {
  using type = T;
};
template <>
struct DeviceType<c10::Half> {
  using type = __half;
};
template <>
struct DeviceType<c10::BFloat16> {
  using type = __nv_bfloat16;
};

template <typename T>
const typename DeviceType<T>::type* device_data(const at::Tensor& t) {
  return t.defined() ? reinterpret_cast<const typename DeviceType<T>::type*>(t.const_data_ptr<T>())
                     : nullptr;
}

template <typename T>
typename DeviceType<T>::type* device_mutable_data(at::Tensor& t) {
  return reinterpret_cast<typename DeviceType<T>::type*>(t.data_ptr<T>());
}

inline cudaStream_t current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

inline void check_launch(cudaError_t status, const char* what) {
  TORCH_CHECK(status == cudaSuccess, "deformviz: CUDA kernel ", what, " failed: ",
              cudaGetErrorString(status));
}

// A zeroed buffer in the op-math type for gradients that threads add into atomically; it is
// `target` itself when target already has that type.
inline at::Tensor accumulation_buffer(const at::Tensor& target) {
  const auto op_math = at::toOpMathType(target.scalar_type());
  return target.scalar_type() == op_math ? target : at::zeros(target.sizes(), target.options().dtype(op_math));
}

inline void finish_accumulation(at::Tensor& target, const at::Tensor& buffer) {
  if (!buffer.is_same(target)) target.copy_(buffer);
}

}  // namespace deformviz::cuda
