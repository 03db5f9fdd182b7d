"""No output ever replaces an input: output paths compared with the inputs after resolving.

A path's spelling says little about the file it names: `sub/../photo.png` is `photo.png`
once `sub/` exists, a symlink names its target, and on a case-insensitive file system
`PHOTO.PNG` is `photo.png`. So every command, before it creates any folder or writes anything,
resolves its outputs and its inputs (`..`, symlinks, folders that do not exist yet) and refuses
an output that names an input, or two outputs that name the same file.

Comparing resolved spellings catches `..` and symlinks whether or not the folders exist yet;
`os.path.samefile` on top catches what only the file system knows (hard links, case-insensitive
names).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from deformviz.errors import OutputError

__all__ = ["resolved", "refuse_overwriting", "writable_path"]


def resolved(path: str | Path) -> Path:
    """`path` made absolute with `..` and symlinks resolved, also through folders that do not
    exist yet (`new/../a.png` is `./a.png`). Creates nothing."""
    return Path(os.path.realpath(os.path.abspath(path)))


def writable_path(path: str | Path) -> Path:
    """Where to write `path`: its folder resolved (so `new/../a.png` does not need, and
    never creates, `new/`), its own name kept (a symlink there is replaced, not followed)."""
    path = Path(path)
    return resolved(path.parent) / path.name


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None if there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def refuse_overwriting(outputs: Sequence[tuple[str, Path]], inputs: Sequence[Path]) -> None:
    """OutputError if an output names an input file, or two outputs name one file.

    Args:
        outputs: (option, path) of every file the command will write, the option as the
            user knows it ("-o", "--save-data", "the state file of -o", ...).
        inputs: every file the command reads (images, annotations, boxes, weights, ...);
            folders and missing paths are ignored.
    Raises:
        OutputError: one line naming the option, the output and the input.
    """
    by_name: dict[str, Path] = {}
    by_identity: dict[tuple[int, int], Path] = {}
    for source in inputs:
        identity = _identity(source)
        if identity is not None and Path(source).is_file():
            by_name.setdefault(os.path.normcase(resolved(source)), Path(source))
            by_identity.setdefault(identity, Path(source))
    seen: dict[str, tuple[str, Path]] = {}
    for option, output in outputs:
        name = os.path.normcase(resolved(output))
        # The identity (hard links, case-insensitive names) exists once the file does.
        source = by_name.get(name) or by_identity.get(_identity(name) or (-1, -1))
        if source is not None:
            said = "" if str(output) == str(source) else f" ({source})"
            raise OutputError(f"{option} {output}: is an input{said}; refusing to "
                              "overwrite it (inputs are never overwritten)")
        if name in seen:
            other_option, other = seen[name]
            raise OutputError(f"{other_option} {other} and {option} {output} name the same "
                              "file; give each output its own name")
        seen[name] = (option, output)
