"""Atomic writes whose write or rename really fails, and the writability probe."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from deformviz import atomic_files
from deformviz.atomic_files import (atomic_write, check_can_create, check_writable_folder,
                                    make_folder)
from deformviz.errors import OutputError


def _fail(error_number: int):
    def failing(*args, **kwargs):
        raise OSError(error_number, os.strerror(error_number))
    return failing


def test_failing_write_keeps_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    monkeypatch.setattr(atomic_files.os, "fsync", _fail(errno.ENOSPC))  # the disk fills up
    with pytest.raises(OSError, match="No space left"):
        with atomic_write(target) as handle:
            handle.write(b"new bytes that never land")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_failing_rename_keeps_the_old_file_and_no_temporary(tmp_path: Path,
                                                            monkeypatch) -> None:
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    monkeypatch.setattr(atomic_files.os, "replace", _fail(errno.EXDEV))
    with pytest.raises(OSError):
        with atomic_write(target) as handle:
            handle.write(b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_rename_onto_a_folder_really_fails(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):  # os.replace of a file onto a non-empty folder
        with atomic_write(target) as handle:
            handle.write(b"new")
    assert (target / "inside").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_successful_write_has_the_usual_mode(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "x.json") as handle:
        handle.write(b"{}")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_probe_finds_unwritable_folders_and_creates_nothing(tmp_path: Path,
                                                            monkeypatch) -> None:
    check_writable_folder(tmp_path)  # writable: passes
    check_can_create(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()  # only probed
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_can_create(tmp_path / "file")
    with pytest.raises(OutputError, match="file exists and is not a folder"):
        check_can_create(tmp_path / "file" / "sub")
    with pytest.raises(OutputError, match="cannot create output folder"):
        check_can_create(Path("/proc/deformviz-probe"))
    # The probe itself: creating the temporary file fails -> the folder is not writable.
    monkeypatch.setattr(atomic_files.tempfile, "TemporaryFile", _fail(errno.EROFS))
    with pytest.raises(OutputError, match="not writable .Read-only file system."):
        check_writable_folder(tmp_path)
    with pytest.raises(OutputError, match=f"{tmp_path} is not writable"):
        check_can_create(tmp_path / "new")


def test_make_folder_reports_what_it_created(tmp_path: Path) -> None:
    created = make_folder(tmp_path / "a" / "b")
    assert created == [tmp_path / "a" / "b", tmp_path / "a"]
    assert make_folder(tmp_path / "a") == []
