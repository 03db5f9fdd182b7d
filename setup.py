"""Builds deformviz._C, the operator library in cuda_ext/, against the torch already installed.

Install torch first, then `pip install --no-build-isolation .` (or `-e .`).

DEFORMVIZ_CUDA chooses whether CUDA kernels are compiled:
  auto (default)  when torch is a CUDA build and nvcc is found with the same CUDA major version
                  as torch's; otherwise the CPU kernels alone are built, with a printed reason.
  1               CUDA kernels are required: the build fails if they cannot be compiled.
  0               CPU kernels only.
Building never needs a GPU. TORCH_CUDA_ARCH_LIST chooses the GPU architectures, e.g.
`TORCH_CUDA_ARCH_LIST="8.0;9.0" pip install --no-build-isolation .`; without it, the GPU in the
machine is targeted, or with none visible V100 (7.0; CUDA 12 and older only, CUDA 13 dropped it)
through H100/H200 (9.0), plus PTX for newer GPUs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError as error:  # pragma: no cover - only reached by a misconfigured install
    raise SystemExit(
        "deformviz compiles its operators against an installed torch: install torch first "
        "(pip install torch==2.13.0), then pip install --no-build-isolation ."
    ) from error

ROOT = Path(__file__).parent
SOURCES = ROOT / "cuda_ext" / "csrc"
INCLUDE = ROOT / "cuda_ext" / "include"

# Architectures compiled when no GPU is visible to ask: Volta (V100) to Hopper (H100/H200), plus
# PTX that newer GPUs compile at load time. CUDA 13 no longer compiles for Volta.
DEFAULT_CUDA_ARCHS = "7.0;7.5;8.0;8.6;8.9;9.0+PTX"
DEFAULT_CUDA_ARCHS_CUDA13 = "7.5;8.0;8.6;8.9;9.0+PTX"


def nvcc_version() -> tuple[int, int] | None:
    """(major, minor) of CUDA_HOME's nvcc, or None when there is no nvcc to run."""
    if CUDA_HOME is None:
        return None
    nvcc = Path(CUDA_HOME) / "bin" / "nvcc"
    try:
        text = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    found = re.search(r"release (\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def cuda_unavailable_reason() -> str | None:
    """Why the CUDA kernels cannot be built here, or None when they can."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build"
    version = nvcc_version()
    if version is None:
        return f"no working nvcc was found (CUDA_HOME={CUDA_HOME})"
    torch_major = int(torch.version.cuda.split(".")[0])
    if version[0] != torch_major:
        return (f"nvcc is CUDA {version[0]}.{version[1]} but torch was built with CUDA "
                f"{torch.version.cuda}; set CUDA_HOME to a CUDA {torch_major} toolkit")
    return None


def build_cuda() -> bool:
    """Whether to compile the CUDA kernels, from DEFORMVIZ_CUDA (1/0/auto) and the toolchain."""
    switch = os.environ.get("DEFORMVIZ_CUDA", "auto").strip().lower()
    if switch in {"0", "off", "false", "no"}:
        return False
    reason = cuda_unavailable_reason()
    if switch in {"1", "on", "true", "yes"}:
        if reason is not None:
            raise SystemExit(f"DEFORMVIZ_CUDA=1 but the CUDA kernels cannot be built: {reason}")
        return True
    if reason is not None:
        print(f"deformviz: building the CPU kernels only, because {reason}. "
              "DEFORMVIZ_CUDA=1 makes this an error.", file=sys.stderr)
        return False
    return True


def default_cuda_archs() -> str:
    version = nvcc_version()
    return DEFAULT_CUDA_ARCHS_CUDA13 if version is not None and version[0] >= 13 else DEFAULT_CUDA_ARCHS


def relative(paths: list[Path]) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in paths)


def extension():
    sources = relative(list(SOURCES.glob("*.cpp")) + list((SOURCES / "cpu").glob("*.cpp")))
    # -ffp-contract=off: the CPU channel loops are also compiled for AVX2 and AVX-512
    # (cpu/vector_path.h); no path may fuse a multiply-add the baseline keeps apart.
    cxx_flags = ["-O3", "-fopenmp", "-ffp-contract=off"]
    # at::parallel_for is OpenMP-based in torch's CPU builds and only runs in parallel when
    # the including file is compiled with -fopenmp; libgomp resolves to torch's own copy.
    common = dict(
        name="deformviz._C",
        include_dirs=[str(INCLUDE)],
        extra_link_args=["-fopenmp"],
    )
    if not build_cuda():
        return CppExtension(sources=sources, extra_compile_args={"cxx": cxx_flags}, **common)
    if "TORCH_CUDA_ARCH_LIST" not in os.environ and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = default_cuda_archs()
    sources += relative(list((SOURCES / "cuda").glob("*.cu")) + list((SOURCES / "cuda").glob("*.cpp")))
    return CUDAExtension(
        sources=sources,
        define_macros=[("WITH_CUDA", None)],
        extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-lineinfo"]},
        **common,
    )


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(no_python_abi_suffix=False)},
)
