// What lets one source of math compile for both the host compiler and nvcc.
#pragma once

#if defined(__CUDACC__)
#define DV_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define DV_HOST_DEVICE inline
#endif

namespace deformviz {

// The type arithmetic runs in: float for float, half and bfloat16 (their products lose too much
// precision when accumulated in their own type), double for double.
template <typename T>
struct AccumulateType {
  using type = float;
};
template <>
struct AccumulateType<double> {
  using type = double;
};

// Conversions between a stored element and the accumulation type. torch builds CUDA code with
// implicit half conversions disabled, so the half types get explicit overloads (cuda_types.cuh).
template <typename Acc, typename T>
DV_HOST_DEVICE Acc to_acc(T value) {
  return static_cast<Acc>(value);
}
template <typename T, typename Acc>
DV_HOST_DEVICE T from_acc(Acc value) {
  return static_cast<T>(value);
}

}  // namespace deformviz
