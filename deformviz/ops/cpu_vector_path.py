"""Which vector instructions the CPU channel loops of deform_conv2d and dcnv3 run with.

The loops that sample and scatter channels (cuda_ext/csrc/cpu/channels_last_sampling.h) and
dcnv3's float passes (cuda_ext/csrc/cpu/dcnv3_cpu.cpp) are compiled for the x86-64 baseline,
AVX2 and AVX-512 in one library (cuda_ext/csrc/cpu/vector_path.h); at run time AVX2 is taken
where the CPU has it (else the baseline), also on AVX-512 CPUs: there AVX-512 was measured no
faster for deform_conv2d and slower for dcnv3 (benchmarks/RESULTS.md). The environment variable
DEFORMVIZ_CPU_VECTOR=baseline|avx2|avx512 (read when the library first runs them), or
`use_cpu_vector_path` within a block, asks for another: that is how tests check every path on
one machine, and how the benchmarks measure what each gains. A path the CPU lacks is never
taken (the widest supported one is). Outputs are
the same on every path; gradients that sum over channels agree to rounding.

>>> path, widest = cpu_vector_path()
>>> path in CPU_VECTOR_PATHS and widest in CPU_VECTOR_PATHS
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._extension import compiled_library

__all__ = ["CPU_VECTOR_PATHS", "cpu_vector_path", "set_cpu_vector_path", "use_cpu_vector_path"]

CPU_VECTOR_PATHS = ("baseline", "avx2", "avx512")  # narrowest first


def _library():
    library = compiled_library()
    if library is None or not hasattr(library, "_cpu_vector_path"):
        raise RuntimeError("deformviz: the compiled operators are not loaded; the reference "
                           "implementation has no CPU vector paths")
    return library


def cpu_vector_path() -> tuple[str, str]:
    """(the path the CPU loops take now, the widest this CPU supports)."""
    return _library()._cpu_vector_path(None)


def set_cpu_vector_path(name: str) -> str:
    """Ask for path `name` (one of CPU_VECTOR_PATHS) for the whole process; returns the path
    taken (`name`, or the widest supported if the CPU lacks it).

    Raises:
        ValueError: an unknown name.
    """
    if name not in CPU_VECTOR_PATHS:
        raise ValueError(f"unknown CPU vector path {name!r} (one of {', '.join(CPU_VECTOR_PATHS)})")
    return _library()._cpu_vector_path(name)[0]


@contextmanager
def use_cpu_vector_path(name: str) -> Iterator[str]:
    """Within the block the CPU loops take path `name` (as `set_cpu_vector_path`); yields the path
    taken."""
    previous = cpu_vector_path()[0]
    try:
        yield set_cpu_vector_path(name)
    finally:
        set_cpu_vector_path(previous)
