#!/usr/bin/env bash
# Builds the CUDA extension for real, links it and loads it, with the CUDA build of torch that
# matches the installed nvcc (torch 2.14.1 for CUDA 13.0, on local disk; it imports without a
# GPU). A kernel that is declared but never instantiated leaves an undefined symbol in
# deformviz/_C*.so: the import below then fails, and so does CI. Also runs the tests marked
# `torchvision` (our operators against torchvision's, on the CPU) in that environment.
#
# Everything happens in a throwaway directory outside the clone: a venv (~5.5 GB) and a copy of
# the sources, so this build never shares files with the CPU build of the clone.
# DEFORMVIZ_CI_CUDA_HOME overrides the toolkit (default /usr/local/cuda-13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
if [ -n "${DEFORMVIZ_CI_WORK:-}" ]; then  # a directory to keep, for local reruns
  work=$DEFORMVIZ_CI_WORK
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/deformviz-cuda-ci.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
cuda_home=${DEFORMVIZ_CI_CUDA_HOME:-/usr/local/cuda-13.0}

# DEFORMVIZ_CI_VENV=DIR reuses an environment made by an earlier run (for local reruns).
venv=${DEFORMVIZ_CI_VENV:-$work/venv}
[ -d "$venv" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet torch==2.14.1 torchvision==0.29.1 setuptools wheel ninja \
  pytest expecttest hypothesis typer matplotlib pillow rich numpy
echo "cuda_build: CUDA torch installed after $((SECONDS - start)) s"

mkdir -p "$work/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/src"
cd "$work/src"
# Built in place (incremental on reruns) and imported from here, the current directory. One
# architecture keeps the build short; the real build flags otherwise.
DEFORMVIZ_CUDA=1 CUDA_HOME="$cuda_home" TORCH_CUDA_ARCH_LIST=9.0 \
  python setup.py --quiet build_ext --inplace
echo "cuda_build: extension built after $((SECONDS - start)) s"

python - <<'PY'
import torch

import deformviz._C as compiled  # an undefined symbol fails here, loudly

assert compiled.WITH_CUDA, "deformviz._C was built without its CUDA kernels"
has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
missing = [f"{op} for {key}"
           for op in ("deform_conv2d", "_deform_conv2d_backward", "deform_roi_pool",
                      "_deform_roi_pool_backward", "dcnv3", "_dcnv3_backward")
           for key in ("CPU", "CUDA")
           if not has_kernel(f"deformviz::{op}", key)]
missing += [f"{op} for {key}" for op in ("deform_conv2d", "deform_roi_pool", "dcnv3")
            for key in ("AutocastCPU", "AutocastCUDA") if not has_kernel(f"deformviz::{op}", key)]
assert not missing, "kernels not registered: " + ", ".join(missing)
print(f"cuda_build: deformviz._C loads with torch {torch.__version__} (CUDA {torch.version.cuda}); "
      "CPU, CUDA and autocast kernels registered")
PY

status=0
python -m pytest -q -m torchvision || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"  # 5: no test collected
echo "cuda_build: done after $((SECONDS - start)) s"
