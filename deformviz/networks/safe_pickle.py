"""Reading pickled weights (detectron2's `.pkl` model-zoo files) without running their code.

A pickle is a program: unpickling may call any function it names (`os.system` included).
`load_numpy_pickle` runs it through an unpickler that resolves only the few names needed to
rebuild numpy arrays, dtypes and scalars and plain containers, and refuses any other name
before anything is called. Zoo files were written by older numpy and Python (protocol 2, the
`numpy.core` module path that numpy 2 renamed `numpy._core`, Python 2 byte strings), so both
paths are admitted and Python-2 strings are read as latin-1 (their bytes unchanged).
"""

from __future__ import annotations

import codecs
import collections
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from deformviz.errors import CheckpointError

__all__ = ["load_numpy_pickle", "allowed_names", "UnsafePickleError"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a callable outside the allowed set (`.name` is module.qualname)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"pickle would call {name}")
        self.name = name


def _numpy_function(*paths: str) -> Any:
    """The first of `paths` (module.name) that this numpy has (numpy 2 moved numpy.core)."""
    import importlib

    for path in paths:
        module_name, _, name = path.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy provides none of {paths}")


def allowed_names() -> dict[tuple[str, str], Any]:
    """(module, name) -> the object: numpy's array, dtype and scalar constructors under both
    module paths, and plain containers. Nothing here can run code of a file's choosing."""
    reconstruct = _numpy_function("numpy._core.multiarray._reconstruct",
                                  "numpy.core.multiarray._reconstruct")
    scalar = _numpy_function("numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar")
    frombuffer = _numpy_function("numpy._core.numeric._frombuffer",
                                 "numpy.core.numeric._frombuffer")
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes at protocol 2 as _codecs.encode(text, "latin1").
        ("_codecs", "encode"): codecs.encode,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "defaultdict"): collections.defaultdict,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    for builtins in ("builtins", "__builtin__"):
        for name, value in (("bytearray", bytearray), ("set", set), ("frozenset", frozenset)):
            allowed[(builtins, name)] = value
    return allowed


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only `allowed_names()`; persistent ids (torch's storages) are refused too."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, encoding="latin1")
        self._allowed = allowed_names()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("a persistent object (a PyTorch storage)")


def _check_arrays(value: Any, path: Path, depth: int = 0) -> None:
    """Object arrays could smuggle anything; weights are numbers."""
    if depth > 32:
        raise CheckpointError(f"{path}: nested too deeply to be a checkpoint")
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        raise CheckpointError(f"{path}: holds an array of Python objects, not weights")
    if isinstance(value, dict):
        for item in value.values():
            _check_arrays(item, path, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_arrays(item, path, depth + 1)


def load_numpy_pickle(path: str | Path) -> Any:
    """Unpickle a file of numpy arrays in plain containers (dict, list, tuple, OrderedDict).

    Returns:
        the unpickled object, e.g. {"model": {name: ndarray}, "__author__": str}.
    Raises:
        CheckpointError: the pickle names anything else (refused before it is called), is
            truncated, or is not a pickle (one line naming the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            return_value = _NumpyOnlyUnpickler(file).load()
    except UnsafePickleError as error:
        raise CheckpointError(
            f"{path}: refused to load: the pickle would call {error.name}; only numpy arrays "
            "and plain containers are allowed (nothing was run)") from None
    except EOFError:
        raise CheckpointError(f"{path}: truncated pickle (the file ends too early)") from None
    except pickle.UnpicklingError as error:
        # The unpickler's own wording ("could not find MARK", opcodes) means nothing to a user.
        if "truncated" in str(error):
            raise CheckpointError(f"{path}: truncated file (it ends too early)") from None
        raise CheckpointError(f"{path}: not a checkpoint, or a damaged one (neither a deformviz "
                              "weights file nor an mmdetection or detectron2 checkpoint)") from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError,
            MemoryError, UnicodeDecodeError) as error:
        # Malformed opcodes and arguments surface as ordinary exceptions from the allowed
        # constructors (e.g. numpy's setstate given the wrong byte count).
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: damaged or truncated pickle ({reason})") from None
    _check_arrays(return_value, path)
    return return_value
