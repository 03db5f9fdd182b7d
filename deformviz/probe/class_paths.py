"""Recognising a library's layer by its class path, without importing the library."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["matching_class"]


def matching_class(module: nn.Module, class_paths: Sequence[str]) -> type | None:
    """The first class in `module`'s MRO whose "module.QualName" is one of `class_paths`, or
    None. A path starting with "." matches any module path ending so (code imported under
    varying package names, such as the Deformable DETR authors' `ops`). Nothing is imported:
    a model holding a library's layer has imported that library already.

    Example:
        >>> matching_class(nn.Conv2d(1, 1, 1), ["torch.nn.modules.conv._ConvNd"]).__name__
        '_ConvNd'
        >>> matching_class(nn.Conv2d(1, 1, 1), [".conv.Conv2d"]).__name__, matching_class(nn.ReLU(), [".conv.Conv2d"])
        ('Conv2d', None)
    """
    for cls in type(module).__mro__:
        path = f"{cls.__module__}.{cls.__qualname__}"
        for wanted in class_paths:
            if path == wanted or (wanted.startswith(".") and path.endswith(wanted)):
                return cls
    return None
