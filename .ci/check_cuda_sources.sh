#!/usr/bin/env bash
# Compile-checks the CUDA sources on a machine without a GPU or a CUDA build of torch.
#  - cuda_ext/csrc/cuda/*.cu are torch-free: nvcc compiles them for real, for the oldest and the
#    newest architecture the build targets.
#  - cuda_ext/csrc/cuda/*.cpp are the host glue to torch: g++ checks them against the CPU wheel's
#    headers. That wheel lacks the generated c10/cuda/impl/cuda_cmake_macros.h, so a stand-in
#    with the one macro it defines is put on the include path.
set -euo pipefail
cd "$(dirname "$0")/.."

nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "check_cuda_sources: nvcc not found" >&2; exit 1; }
# nvcc may be a wrapper script; ask torch where the toolkit is, as its build would.
cuda_home=${CUDA_HOME:-$(python -c "from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or '/usr/local/cuda')")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The flags torch's CUDAExtension passes: half conversions off, so the kernels must be explicit.
nvcc_flags=(-std=c++17 -O3 -Icuda_ext/include
  -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__
  -D__CUDA_NO_BFLOAT16_CONVERSIONS__ -D__CUDA_NO_HALF2_OPERATORS__
  -gencode arch=compute_75,code=sm_75 -gencode arch=compute_90,code=sm_90)
for source in cuda_ext/csrc/cuda/*.cu; do
  echo "nvcc $source"
  "$nvcc" "${nvcc_flags[@]}" -c "$source" -o "$work/$(basename "$source").o"
done

mkdir -p "$work/stub/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$work/stub/c10/cuda/impl/cuda_cmake_macros.h"
mapfile -t torch_includes < <(python -c "
import sysconfig
from torch.utils.cpp_extension import include_paths
for path in include_paths() + [sysconfig.get_paths()['include']]:
    print('-I' + path)")
for source in cuda_ext/csrc/cuda/*.cpp; do
  echo "g++ -fsyntax-only $source"
  g++ -std=c++20 -fsyntax-only -DWITH_CUDA -I"$work/stub" -Icuda_ext/include \
    "${torch_includes[@]}" -I"$cuda_home/include" "$source"
done
echo "check_cuda_sources: all CUDA sources compile"
