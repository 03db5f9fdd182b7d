"""How much memory deform_conv2d's column buffer may take before a batch is split into chunks.

The compiled deform_conv2d gathers every bilinear sample of a chunk of images into a column
buffer [C * kh * kw, images * Ho * Wo] and multiplies it with the weights in one GEMM; images are
taken in chunks so that buffer stays within the budget (256 MiB by default; at least one image
per chunk). Results do not depend on the budget: lowering it trades speed for memory, and lets
tests run several chunks on small inputs. The pure-PyTorch reference ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._extension import compiled_library

__all__ = ["column_budget", "set_column_budget"]


def set_column_budget(nbytes: int) -> int:
    """Sets the column budget to `nbytes` (> 0) for the whole process; returns the previous one.

    Raises:
        ValueError: `nbytes` is not a positive int.
        RuntimeError: the compiled operators are not loaded.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes <= 0:
        raise ValueError(f"the column budget must be a positive number of bytes, got {nbytes!r}")
    library = compiled_library()
    if library is None:
        raise RuntimeError("deformviz: the compiled operators are not loaded; the reference "
                           "implementation has no column budget")
    return library._set_column_budget(nbytes)


@contextmanager
def column_budget(nbytes: int) -> Iterator[None]:
    """Within the block, deform_conv2d's column buffer takes at most `nbytes` (one image at
    least), e.g. `with column_budget(64 << 20): y = layer(x)`."""
    previous = set_column_budget(nbytes)
    try:
        yield
    finally:
        set_column_budget(previous)
