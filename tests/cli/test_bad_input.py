"""Every kind of bad input: one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import torch

CHELSEA = "@chelsea"  # replaced by the sample's path (451 x 300)


def _bomb(path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _files(folder: Path, samples: Path) -> None:
    (folder / "text.jpg").write_text("hello")
    data = (samples / "scene_000.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 3])
    _bomb(folder / "bomb.png")
    (folder / "empty").mkdir()
    (folder / "a_file").write_text("x")
    (folder / "bad.json").write_text("[[1, 2")
    (folder / "outside.json").write_text('[[0, 0, 1000, 10]]')


CASES = [
    # (command args, message fragment)
    (["sample", "missing.jpg"], "missing.jpg: no such file"),
    (["sample", "text.jpg"], "text.jpg: not an image"),
    (["sample", "truncated.png"], "truncated.png: truncated or corrupt image"),
    (["sample", "bomb.png"], "exceeds the limit of 100 megapixels (a guard against decompression"),
    (["sample", "empty"], "folder contains no images"),
    (["sample", CHELSEA, "--at", "451", "10"], "unit (451, 10) is outside the image"),
    (["sample", CHELSEA, "--at", "-1", "10"], "outside the image"),
    (["sample", CHELSEA, "--at", "x", "10"], "'x' is not a number"),
    (["sample", CHELSEA, "--at", "10"], "--at needs 2 numbers"),
    (["sample", CHELSEA, "--levels", "4"], "--levels 4: the chain has 3 layers"),
    (["sample", CHELSEA, "--levels", "7"], "Invalid value for '--levels'"),
    (["sample", CHELSEA, "--grid", "--at", "1", "2"], "--grid cannot be combined"),
    (["sample", CHELSEA, "--auto", "0"], "Invalid value for '--auto'"),
    (["sample", CHELSEA, "-o", "out.gif"], "unknown figure format .gif"),
    (["sample", CHELSEA, "--dpi", "nan"], "--dpi': nan is not a number"),
    (["sample", CHELSEA, "--dpi", "5000"], "5000 is not in the range 10<=x<=2400"),
    (["sample", CHELSEA, "--score-threshold", "nan"], "nan is not a number"),
    (["roi", CHELSEA, "--min-score", "nan"], "nan is not a number"),
    (["roi", CHELSEA, "--max-megapixels", "nan"], "nan is not a number"),
    (["sample", CHELSEA, "-o", "a_file/out.png"], "a_file: exists and is not a folder"),
    (["sample", CHELSEA, CHELSEA, "-o", "x.png"], "give a folder"),
    (["sample", CHELSEA, "--save-data", "x.csv"], "unknown data format '.csv'"),
    (["sample", CHELSEA, "-w", "3"], "needs a unit"),
    (["sample", CHELSEA, "--size", "500"], "multiple of 16"),
    (["sample", CHELSEA, "--format", "gif"], "Invalid value for '--format'"),
    (["roi", CHELSEA, "--box", "10", "10", "5", "50"], "is inverted"),
    (["roi", CHELSEA, "--box", "10", "10", "10", "50"], "has zero area"),
    (["roi", CHELSEA, "--box", "10", "10", "500", "50", "--no-clip"], "is outside the image"),
    (["roi", CHELSEA, "--box", "460", "10", "500", "50"], "no part of it is left to clip"),
    (["roi", CHELSEA, "--box", "10", "y", "50", "50"], "'y' is not a number"),
    (["roi", CHELSEA, "--box", "10", "inf", "50", "50"], "is not a finite number"),
    (["roi", CHELSEA, "--box", "1", "2", "3"], "--box needs 4 numbers"),
    (["roi", CHELSEA, "--boxes", "bad.json"], "bad.json: not valid JSON"),
    (["roi", CHELSEA, "--boxes", "nofile.json"], "no such boxes file"),
    (["roi", CHELSEA, "--boxes", "outside.json", "--no-clip"], "is outside the image"),
    (["sample", CHELSEA, "--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["sample", CHELSEA, "--model", "missing.pt"], "no such weights file"),
    (["nonsense"], "No such command 'nonsense'"),
    (["sample"], "Missing argument"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(c[0])[:50] for c in CASES])
def test_bad_input_exits_2_with_one_line(run, samples: Path, tmp_path: Path, args, message) -> None:
    _files(tmp_path, samples)
    before = set(tmp_path.rglob("*"))
    args = [str(samples / "chelsea.jpg") if a == CHELSEA else a for a in args]
    with_model = "--model" not in args and args[0] in ("sample", "roi")
    result = run(*args, model=with_model)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    assert set(tmp_path.rglob("*")) == before  # nothing written


def test_unwritable_output_folder(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "-o", "/proc/deformviz-test/x.png")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: /proc/deformviz-test: cannot create output folder "
                                     "(/proc is not writable)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--device", "cuda")
    assert result.exit_code == 2
    reason = ("this torch build has no CUDA support" if torch.version.cuda is None
              else "no CUDA device is visible")
    assert result.stderr.strip() == (f"error: --device cuda: CUDA is not available ({reason}); "
                                     "use --device cpu")
