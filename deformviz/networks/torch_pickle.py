"""Reading the weights of PyTorch files that also hold other Python objects, running nothing.

`torch.load(weights_only=True)` refuses a whole file as soon as it meets one object it does
not know. Training frameworks save such objects next to the weights: mmengine (mmdetection
3.x) stores its MessageHub's `HistoryBuffer`s and numpy values in every checkpoint it writes,
mmdetection 2.x numpy scores in `meta`. `load_torch_file_skipping_objects` reads such a file
with torch's own storage loading but an unpickler that resolves only
- the functions that rebuild tensors and parameters, torch dtypes and devices,
- numpy arrays, dtypes and scalars and plain containers (as for `.pkl` files),
- any other CLASS as an inert stand-in: a fresh empty class that accepts and drops its
  arguments and state, so no method or constructor of the real class ever runs;
- `getattr` on those stand-ins only (protocol 2 writes a reference to a class's method, such
  as the `HistoryBuffer.min` in mmengine's message hub, as `getattr(HistoryBuffer, 'min')`):
  the answer is another stand-in, and no real attribute is ever looked up;
and refuses any other function (os.system, builtins.eval, getattr on a real object, ...)
before it is called, naming it.
Names of the stood-in classes are reported, so the user learns what was not read.
"""

from __future__ import annotations

import pickle
import types
import warnings
from pathlib import Path
from typing import Any

import torch

from .safe_pickle import UnsafePickleError, allowed_names

__all__ = ["load_torch_file_skipping_objects", "resolved_globals"]

_TENSOR_FUNCTIONS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter")


class _StandIn:
    """Base of the inert stand-ins: any arguments, any state, any items are accepted and
    dropped (pickle's REDUCE, NEWOBJ, BUILD, SETITEMS and APPENDS)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_StandIn":
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__}, not read>"


def _is_stand_in(value: Any) -> bool:
    return isinstance(value, _StandIn) or (isinstance(value, type) and issubclass(value, _StandIn))


def _inert_getattr(owner: Any, name: Any) -> type:
    """`getattr` as the restricted unpickler resolves it: on a stand-in, a new stand-in named
    after the attribute (nothing is looked up); on anything else, refused with the name."""
    if not isinstance(name, str):
        raise UnsafePickleError(f"builtins.getattr with a {type(name).__name__} as the name")
    if not _is_stand_in(owner):
        what = owner if isinstance(owner, type) else type(owner)
        raise UnsafePickleError(f"builtins.getattr({what.__module__}.{what.__qualname__}, "
                                f"{name!r})")
    owner_name = (owner if isinstance(owner, type) else type(owner)).__qualname__
    return type(name, (_StandIn,), {"__qualname__": f"{owner_name}.{name}"})


def resolved_globals() -> dict[tuple[str, str], Any]:
    """(module, name) -> what the restricted unpickler resolves it to, besides torch's dtypes
    (`torch.float32`, ...) and the stand-ins for classes: numpy's and the containers of
    `safe_pickle.allowed_names`, torch's tensor and parameter rebuilders, `torch.device`, and
    the inert `getattr`."""
    allowed = allowed_names()
    for name in _TENSOR_FUNCTIONS:
        allowed[("torch._utils", name)] = getattr(torch._utils, name)
    allowed[("torch", "device")] = torch.device
    for module in ("builtins", "__builtin__"):
        allowed[(module, "getattr")] = _inert_getattr
    return allowed


def _unpickler_module(skipped: set[str]) -> types.ModuleType:
    """A stand-in for the `pickle` module, for torch.load's `pickle_module`."""
    allowed = resolved_globals()
    stand_ins: dict[str, type] = {}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) in allowed:
                return allowed[(module, name)]
            if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
                return getattr(torch, name)
            if name[:1].isupper():  # a class by convention: stand in for it, run nothing
                qualified = f"{module}.{name}"
                skipped.add(qualified)
                if qualified not in stand_ins:
                    stand_ins[qualified] = type(name, (_StandIn,), {"__qualname__": qualified})
                return stand_ins[qualified]
            raise UnsafePickleError(f"{module}.{name}")

    module = types.ModuleType("deformviz_restricted_pickle")
    module.Unpickler = Unpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kwargs: Unpickler(file, **kwargs).load()  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return module


def load_torch_file_skipping_objects(path: Path) -> tuple[Any, tuple[str, ...]]:
    """torch.load through the restricted unpickler above (CPU).

    Returns:
        (the file's contents with every non-weight object replaced by an inert stand-in,
        the sorted qualified names of the classes stood in for).
    Raises:
        UnsafePickleError: the file names a function outside the allowed set.
        Whatever torch.load raises for damaged files.
    """
    skipped: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about weights_only=False; we restrict it
        data = torch.load(path, map_location="cpu", weights_only=False,
                          pickle_module=_unpickler_module(skipped))
    return data, tuple(sorted(skipped))
