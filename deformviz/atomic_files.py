"""Writing output files so that an interrupted run never leaves a broken one behind.

Every figure and data file is written to a temporary file in the target folder and moved into
place with `os.replace` (atomic on POSIX and Windows when source and target share a folder):
readers see either the old file or the complete new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from deformviz.errors import OutputError

__all__ = ["atomic_write", "check_writable_folder", "check_can_create", "make_folder"]


def check_writable_folder(folder: Path, create: bool = True) -> None:
    """Make sure files can be created in `folder` (creating it if asked), or raise OutputError.

    The check creates and deletes a temporary file: permission bits alone do not tell (root,
    read-only mounts, ACLs).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    if not folder.exists():
        if not create:
            raise OutputError(f"{folder}: no such folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{folder}: cannot create output folder "
                              f"({error.strerror or error})") from None
    _probe(folder)


def _probe(folder: Path) -> None:
    """Create and delete a temporary file in `folder`, or raise OutputError."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(f"{folder}: output folder is not writable "
                          f"({error.strerror or error})") from None


def check_can_create(folder: Path) -> None:
    """Make sure `folder` exists and is writable, or could be created, WITHOUT creating it.

    Probes the nearest existing ancestor when `folder` does not exist yet, so a run that fails
    before writing anything leaves no empty folder behind (`make_folder` creates it when the
    first file is written).
    """
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"{folder}: exists and is not a folder")
        _probe(folder)
        return
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{folder}: cannot create output folder ({ancestor} exists and is "
                          "not a folder)")
    try:
        _probe(ancestor)
    except OutputError:
        raise OutputError(f"{folder}: cannot create output folder ({ancestor} is not "
                          "writable)") from None


def make_folder(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns the folders created, deepest first."""
    folder = Path(folder)
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create output folder "
                          f"({error.strerror or error})") from None
    return missing


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary binary file next to `path`; on success it replaces `path`.

    On any exception (including KeyboardInterrupt) the temporary file is removed and `path`
    is left untouched.
    """
    path = Path(path)
    try:
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp", delete=False)
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
    try:
        with handle:
            yield handle  # type: ignore[misc]
            handle.flush()
            os.fsync(handle.fileno())
        # NamedTemporaryFile creates 0600 files; outputs get the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
        os.replace(handle.name, path)
    except BaseException:
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass
        raise
