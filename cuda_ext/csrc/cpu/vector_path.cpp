// The run-time choice of vector path (vector_path.h).
#include "vector_path.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace deformviz::cpu {
namespace {

VectorPath detect() {
#if DEFORMVIZ_VECTOR_PATHS
  __builtin_cpu_init();
  // These checks include the operating system's support (XGETBV) for the wider registers.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    return VectorPath::kAvx512;
  }
  if (__builtin_cpu_supports("avx2")) return VectorPath::kAvx2;
#endif
  return VectorPath::kBaseline;
}

VectorPath clamp(VectorPath path) {
  return static_cast<VectorPath>(std::min(static_cast<int>(path), static_cast<int>(widest_vector_path())));
}

std::atomic<int>& chosen() {
  static std::atomic<int> path{[] {
    VectorPath requested = default_vector_path();
    const char* text = std::getenv("DEFORMVIZ_CPU_VECTOR");
    if (text != nullptr && *text != '\0' && !parse_vector_path(text, requested)) {
      requested = default_vector_path();  // an unknown name: the default
    }
    return static_cast<int>(clamp(requested));
  }()};
  return path;
}

}  // namespace

VectorPath widest_vector_path() {
  static const VectorPath widest = detect();
  return widest;
}

VectorPath default_vector_path() {
  // AVX2 even where AVX-512 exists: measured on an AVX-512 EPYC, the AVX-512 loops were no
  // faster for deform_conv2d and 1.3-2x slower for dcnv3's 16-channel groups (half-filled
  // 512-bit registers; benchmarks/RESULTS.md). AVX-512 stays available on request.
  return clamp(VectorPath::kAvx2);
}

VectorPath vector_path() { return static_cast<VectorPath>(chosen().load(std::memory_order_relaxed)); }

VectorPath set_vector_path(VectorPath path) {
  const VectorPath taken = clamp(path);
  chosen().store(static_cast<int>(taken));
  return taken;
}

const char* vector_path_name(VectorPath path) {
  switch (path) {
    case VectorPath::kAvx512:
      return "avx512";
    case VectorPath::kAvx2:
      return "avx2";
    default:
      return "baseline";
  }
}

bool parse_vector_path(const char* name, VectorPath& path) {
  for (VectorPath candidate : {VectorPath::kBaseline, VectorPath::kAvx2, VectorPath::kAvx512}) {
    if (std::strcmp(name, vector_path_name(candidate)) == 0) {
      path = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace deformviz::cpu
