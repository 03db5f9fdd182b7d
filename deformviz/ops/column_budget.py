"""How much memory deform_conv2d's column buffer may take.

deform_conv2d gathers the bilinear samples of many output positions into a column buffer
[positions, C * kh * kw] and multiplies it with the weights in a GEMM. On the CPU each thread
fills a tile of at most 256 positions (about 2.4 MB at 256 channels, so it stays in cache) in a
workspace of its own; the budget bounds one tile's buffer, and a lower budget makes tiles
smaller (one position at least). On CUDA the batch is taken in chunks of images whose buffer
[C * kh * kw, images * Ho * Wo] stays within the budget (one image at least). The default budget
is 256 MiB. Results do not depend on it: lowering it trades speed for memory, and lets tests cut
small inputs into several tiles or chunks. The pure-PyTorch reference ignores it.
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
    """Within the block, deform_conv2d's column buffer takes at most `nbytes` (one output
    position on the CPU, one image on CUDA, at least), e.g.
    `with column_budget(64 << 20): y = layer(x)`."""
    previous = set_column_budget(nbytes)
    try:
        yield
    finally:
        set_column_budget(previous)
