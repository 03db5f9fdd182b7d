"""Reading a checkpoint file safely, and finding the state dict inside it.

The file's own bytes say what it is (its name may lie): a PyTorch zip or legacy file goes
through `torch.load(weights_only=True)` (and, if it also holds objects that refuses, through
the restricted unpickler of `torch_pickle`), any other pickle through the numpy-only
unpickler. None of them runs code from the file. Every failure is a one-line
`CheckpointError`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deformviz.errors import CheckpointError

from .safe_pickle import UnsafePickleError, load_numpy_pickle
from .torch_pickle import load_torch_file_skipping_objects

__all__ = ["CheckpointContents", "read_checkpoint"]

_ZIP_MAGIC = b"PK\x03\x04"
# The legacy (pre-1.6) torch.save format starts with a pickled magic number.
_LEGACY_TORCH_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa850")
# How pickles of a dict begin: protocol 2+ (PROTO), or protocol 0/1 (MARK, EMPTY_DICT,
# EMPTY_LIST, or GLOBAL for an OrderedDict). Other files are not tried as pickles.
_PICKLE_STARTS = (b"\x80", b"(", b"}", b"]", b"c")


@dataclass(frozen=True)
class CheckpointContents:
    """A checkpoint's weights and how they were wrapped.

    Attributes:
        state: {key: tensor} as stored (float tensors converted to float32).
        structure: how the file held them, e.g. "{'meta', 'state_dict'}" or "bare state dict".
        extras: the other top-level entries of the file (e.g. mmdetection's "meta").
        skipped: classes of objects besides the weights that were not read (stood in for).
    """

    state: dict[str, Tensor]
    structure: str
    extras: dict[str, Any]
    skipped: tuple[str, ...] = ()


def _first_bytes(path: Path) -> bytes:
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    try:
        with open(path, "rb") as file:
            return file.read(32)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None


def _load_torch(path: Path, zipped: bool) -> tuple[Any, tuple[str, ...]]:
    """(contents, classes stood in for) of a PyTorch file; see `torch_pickle`."""
    if zipped:
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except zipfile.BadZipFile:
            raise CheckpointError(f"{path}: truncated or damaged PyTorch file (its zip "
                                  "directory is missing)") from None
        if damaged is not None:
            raise CheckpointError(f"{path}: damaged PyTorch file ({damaged} fails its checksum)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True), ()
    except (EOFError, zipfile.BadZipFile):
        raise CheckpointError(f"{path}: truncated PyTorch file") from None
    except Exception as error:  # torch raises plain Exceptions/RuntimeErrors for both cases
        message = str(error)
        if "weights_only" not in message and "Unsupported global" not in message:
            reason = message.strip().splitlines()[0] if message.strip() else type(error).__name__
            raise CheckpointError(f"{path}: truncated or damaged PyTorch file ({reason})") from None
    # Objects besides the weights (mmengine's HistoryBuffer, numpy scores): read the weights,
    # stand in for the objects' classes, refuse any function.
    try:
        return load_torch_file_skipping_objects(path)
    except UnsafePickleError as error:
        raise CheckpointError(
            f"{path}: refused to load: the file would call {error.name}; deformviz reads "
            "weights and plain data only (nothing was run)") from None
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: cannot be read safely ({reason})") from None


def _as_tensor(key: str, value: Any, path: Path) -> Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiub":
            raise CheckpointError(f"{path}: {key} holds {value.dtype} data, not numbers")
        value = torch.from_numpy(np.array(value))  # a writable copy in native byte order
    if not isinstance(value, Tensor):
        raise CheckpointError(f"{path}: {key} is a {type(value).__name__}, not a tensor")
    return value.float() if value.is_floating_point() else value


def _tensor_dict(value: Any) -> bool:
    return (isinstance(value, Mapping) and len(value) > 0
            and all(isinstance(k, str) for k in value)
            and sum(isinstance(v, (Tensor, np.ndarray)) for v in value.values()) > len(value) / 2)


def read_checkpoint(path: str | Path) -> CheckpointContents:
    """Read a checkpoint file without running code from it, and find its state dict.

    Understood wrappers: {"state_dict": ..., "meta": ...} (mmdetection, Lightning),
    {"model": ...} (detectron2 .pth and .pkl), a bare {key: tensor | ndarray} dict.

    Raises:
        CheckpointError: missing, unreadable, not a checkpoint, truncated, unsafe to unpickle,
            or holding something other than weights (one line naming the file).
    """
    path = Path(path)
    head = _first_bytes(path)
    skipped: tuple[str, ...] = ()
    if head.startswith(_ZIP_MAGIC):
        data, skipped = _load_torch(path, zipped=True)
    elif head[:1] == b"\x80" and _LEGACY_TORCH_MAGIC in head:
        data, skipped = _load_torch(path, zipped=False)
    elif head[:1] in _PICKLE_STARTS:
        data = load_numpy_pickle(path)
    elif not head:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    else:
        raise CheckpointError(f"{path}: not a checkpoint (neither a PyTorch file nor a pickle)")
    if skipped and not _tensor_dict(data) and not (
            isinstance(data, Mapping) and any(_tensor_dict(data.get(k)) for k in ("state_dict", "model"))):
        raise CheckpointError(f"{path}: holds pickled Python objects ({', '.join(skipped[:3])}), "
                              "not a state dict; save the model's state_dict() instead")
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not a checkpoint "
                              "(expected a dict of weights)")
    for wrapper in ("state_dict", "model"):
        if wrapper in data and _tensor_dict(data[wrapper]):
            structure = "{" + ", ".join(repr(k) for k in data) + "}"
            state, extras = data[wrapper], {k: v for k, v in data.items() if k != wrapper}
            break
    else:
        if not _tensor_dict(data):
            keys = ", ".join(repr(k) for k in list(data)[:5])
            raise CheckpointError(f"{path}: holds a dict without weights (keys {keys}), not "
                                  "a checkpoint")
        structure, state, extras = "bare state dict", data, {}
    tensors = {key: _as_tensor(key, value, path) for key, value in state.items()
               if not isinstance(value, (int, float, str))}  # e.g. a stray "_version" number
    return CheckpointContents(tensors, structure, dict(extras), skipped)
