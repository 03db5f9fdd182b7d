"""Builds deformviz._C, the operator library in cuda_ext/, against the torch already installed.

Install torch first, then `pip install --no-build-isolation .` (or `-e .`). CUDA kernels are
compiled when the installed torch is a CUDA build and nvcc is found; set DEFORMVIZ_CUDA=1 to
require them (the build fails if it cannot) or DEFORMVIZ_CUDA=0 to skip them. Building never
needs a GPU: with none visible, TORCH_CUDA_ARCH_LIST defaults to a list of common architectures.
"""

from __future__ import annotations

import os
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

# Architectures compiled when no GPU is visible to ask: Turing to Hopper, plus PTX for newer.
DEFAULT_CUDA_ARCHS = "7.5;8.0;8.6;8.9;9.0+PTX"


def build_cuda() -> bool:
    """Whether to compile the CUDA kernels, from DEFORMVIZ_CUDA (1/0/auto) and the toolchain."""
    switch = os.environ.get("DEFORMVIZ_CUDA", "auto").strip().lower()
    available = torch.version.cuda is not None and CUDA_HOME is not None
    if switch in {"0", "off", "false", "no"}:
        return False
    if switch in {"1", "on", "true", "yes"}:
        if not available:
            raise SystemExit(
                "DEFORMVIZ_CUDA=1 but CUDA cannot be built: "
                f"torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME}"
            )
        return True
    return available


def relative(paths: list[Path]) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in paths)


def extension():
    sources = relative(list(SOURCES.glob("*.cpp")) + list((SOURCES / "cpu").glob("*.cpp")))
    cxx_flags = ["-O3", "-fopenmp"]
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
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_CUDA_ARCHS
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
