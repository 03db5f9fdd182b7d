"""Loading the compiled operator library, and which backend runs the operators.

`deformviz._C` holds the C++/CUDA kernels (built from cuda_ext/). When it cannot be loaded, or
was built without CUDA and a CUDA tensor arrives, the operators fall back to the pure-PyTorch
reference in `deformviz.ops.reference`: correct but slow. The fallback is never silent: it warns
once, and `operator_backend()` tells callers which backend a device gets.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import torch

__all__ = ["operator_backend", "compiled_library", "warn_reference_fallback"]


def _load() -> tuple[ModuleType | None, str | None]:
    try:
        from deformviz import _C
    except (ImportError, OSError) as error:  # missing build, or built against another torch
        return None, f"{type(error).__name__}: {error}"
    return _C, None


_compiled, _load_error = _load()
_warned: set[str] = set()


def compiled_library() -> ModuleType | None:
    """The loaded `deformviz._C` module, or None when it could not be loaded."""
    return _compiled


def operator_backend(device: torch.device | str = "cpu") -> str:
    """Which implementation runs deformviz's operators on `device`.

    Returns:
        "compiled-cpu" or "compiled-cuda" when the C++/CUDA kernels serve that device,
        otherwise "reference" (the pure-PyTorch fallback).
    """
    device_type = torch.device(device).type
    if _compiled is None:
        return "reference"
    if device_type == "cpu":
        return "compiled-cpu"
    if device_type == "cuda" and _compiled.WITH_CUDA:
        return "compiled-cuda"
    return "reference"


def warn_reference_fallback(device: torch.device) -> None:
    """Warns, once per device type, that the slow reference implementation is in use."""
    if device.type in _warned:
        return
    _warned.add(device.type)
    reason = _load_error or f"deformviz._C was built without {device.type.upper()} kernels"
    warnings.warn(
        f"deformviz: compiled operators unavailable for {device.type} ({reason}); "
        "using the slow pure-PyTorch reference implementation",
        RuntimeWarning,
        stacklevel=3,
    )
