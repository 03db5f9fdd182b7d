// What the shared math needs on the GPU: conversions for the half types (torch compiles CUDA
// with implicit half conversions disabled), atomic accumulation, and launch geometry.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "deformviz/portability.h"

namespace deformviz {

template <>
DV_HOST_DEVICE float to_acc<float, __half>(__half value) {
  return __half2float(value);
}
template <>
DV_HOST_DEVICE __half from_acc<__half, float>(float value) {
  return __float2half(value);
}
template <>
DV_HOST_DEVICE float to_acc<float, __nv_bfloat16>(__nv_bfloat16 value) {
  return __bfloat162float(value);
}
template <>
DV_HOST_DEVICE __nv_bfloat16 from_acc<__nv_bfloat16, float>(float value) {
  return __float2bfloat16(value);
}

namespace cuda {

// Many threads scatter into the same pixel or offset; float and double atomics are native.
struct AtomicAdd {
  template <typename T>
  __device__ void operator()(T* target, T amount) const {
    atomicAdd(target, amount);
  }
};

constexpr int kThreadsPerBlock = 256;
// Channels one thread handles: enough to reuse a sampling point's stencil, few enough to give
// the GPU many threads when batches are small.
constexpr int64_t kChannelsPerThread = 16;

inline unsigned int blocks_for(int64_t work_items) {
  // Grid-stride loops cover anything beyond the cap.
  const int64_t blocks = (work_items + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, int64_t(1) << 20));
}

DV_HOST_DEVICE int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cuda
}  // namespace deformviz

#define DV_GRID_STRIDE_LOOP(index, count)                                          \
  for (int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
       index < (count); index += static_cast<int64_t>(blockDim.x) * gridDim.x)
