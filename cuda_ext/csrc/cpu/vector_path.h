// Which vector instructions the CPU channel loops run with, chosen at run time.
//
// The loops of channels_last_sampling.h and dcnv3_cpu.cpp's float passes are compiled three
// times: for the x86-64 baseline (SSE2), for AVX2 and for AVX-512 (GCC target attributes; one
// binary serves every x86-64 CPU). This is the only vector dispatch of the CPU kernels.
// AVX2 is used where the CPU (and its operating system) supports it, else the baseline: AVX-512
// was measured no faster for deform_conv2d and slower for dcnv3 (default_vector_path). The
// environment variable DEFORMVIZ_CPU_VECTOR (baseline, avx2 or avx512) or `set_vector_path`
// asks for another: tests and benchmarks run every path on one machine that way. A request for
// a path the CPU lacks is clamped to the widest one it has. The build uses -ffp-contract=off, so
// no path fuses a multiply and an add the others keep apart: element-wise results are identical
// on every path; sums over channels (the backward pass's dot products) add the same terms in
// another order and agree to rounding.
#pragma once

namespace deformviz::cpu {

enum class VectorPath : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// The widest path this CPU supports (kBaseline off x86-64 or without GCC/Clang).
VectorPath widest_vector_path();

// The path taken unless another is asked for: AVX2, or the widest supported if narrower.
VectorPath default_vector_path();

// The path the loops take now.
VectorPath vector_path();

// Asks for `path` (clamped to the widest supported); returns the path now taken.
VectorPath set_vector_path(VectorPath path);

// "baseline", "avx2", "avx512".
const char* vector_path_name(VectorPath path);

// Parses a name as above; false when it is not one of them.
bool parse_vector_path(const char* name, VectorPath& path);

}  // namespace deformviz::cpu

// Function attributes that compile one function for a path.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DEFORMVIZ_VECTOR_PATHS 1
#define DEFORMVIZ_TARGET_AVX2 __attribute__((target("avx2")))
#define DEFORMVIZ_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))
#define DEFORMVIZ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define DEFORMVIZ_VECTOR_PATHS 0
#define DEFORMVIZ_ALWAYS_INLINE inline
#endif
