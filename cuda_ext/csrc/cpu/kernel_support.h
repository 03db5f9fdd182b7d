// Small pieces every CPU kernel uses.
#pragma once

#include <ATen/core/Tensor.h>

namespace deformviz::cpu {

// The CPU kernels give every output plane a single writer, so scattering needs no atomics.
struct PlainAdd {
  template <typename T>
  void operator()(T* target, T amount) const {
    *target += amount;
  }
};

// Data of an optional input (mask, offset), or nullptr when the op was called without it.
template <typename T>
const T* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}

}  // namespace deformviz::cpu
