"""`deformviz stats` under torchrun: 2 CPU processes (gloo) give the single-process table byte
for byte (one thread per process, as the single run here), report every rank's failed images,
stop with exit 1 and a message when a rank is killed, and resume on any number of processes to
the same table."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deformviz.cli import app
from deformviz.statistics.coco import CocoImage
from deformviz.statistics.ranks import Ranks, split_by_size
from tests.statistics.conftest import write_coco_scenes

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120  # a whole torchrun job of a few 128-px scenes takes ~15 s on 2 busy cores


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _torchrun(args: list, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "deformviz", "stats", *[str(a) for a in args]]
    return subprocess.Popen(command, cwd=cwd, env=_environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def stats_args(test_model_path):
    def args(folder: Path, output: str, *extra) -> list:
        return [folder, "-a", folder / "instances.json", "-o", output, "--model", test_model_path,
                "--size", "128", "--workers", "0", *extra]
    return args


def _single(args: list, cwd: Path, monkeypatch) -> None:
    monkeypatch.chdir(cwd)  # the test's own process, one thread (tests.fixtures_model._one_thread)
    result = CliRunner().invoke(app, ["stats", *[str(a) for a in args]])
    assert result.exit_code == 0, result.output


def test_two_ranks_give_the_single_process_table(stats_args, tmp_path, monkeypatch):
    folder = tmp_path / "scenes"
    write_coco_scenes(folder, 5)
    (folder / "scene_003.png").write_bytes(b"not a png")  # a rank's image that fails to read
    job = _torchrun(stats_args(folder, "ranks.json", "--checkpoint-every", "1"), tmp_path)
    out, err = job.communicate(timeout=TIMEOUT_S)
    assert job.returncode == 0, err
    assert "4 images measured, 1 failed" in out and "on 2 processes" in out
    assert out.count("Effective dilation") == 1  # rank 0 alone prints the table
    assert err.count("warning: skipped") == 1 and "scene_003.png" in err.replace("\n", "")
    _single(stats_args(folder, "single.json"), tmp_path, monkeypatch)
    assert (tmp_path / "ranks.json").read_bytes() == (tmp_path / "single.json").read_bytes()
    assert list(json.loads((tmp_path / "ranks.json").read_text())["images"]["failed"]) == ["40"]
    assert not (tmp_path / "ranks.partial.json").exists()


def _descendants(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children + [d for c in children for d in _descendants(c)]


def _rank_process(pid: int, rank: int) -> int | None:
    for child in _descendants(pid):
        try:
            environ = (Path("/proc") / str(child) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"deformviz" in (Path("/proc") / str(child) / "cmdline").read_bytes():
            return child
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process in /proc")
def test_killed_rank_stops_the_run_and_it_resumes(stats_args, tmp_path, monkeypatch):
    folder = tmp_path / "scenes"
    write_coco_scenes(folder, 12)
    # A rank timeout well under torchrun's 30 s between SIGTERM and SIGKILL of the survivors:
    # rank 0, waiting in a collective for the killed rank, gives up, saves and says so in time.
    args = stats_args(folder, "table.json", "--checkpoint-every", "1", "--rank-timeout", "15")
    job = _torchrun(args, tmp_path)
    state = tmp_path / "table.partial.json"
    deadline = time.monotonic() + TIMEOUT_S
    while not state.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    victim = _rank_process(job.pid, 1)
    assert state.exists() and victim is not None, job.communicate(timeout=TIMEOUT_S)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    out, err = job.communicate(timeout=TIMEOUT_S)
    assert job.returncode == 1, err
    assert time.monotonic() - killed < 60
    assert "the finished images are saved in table.partial.json" in err, err
    saved = json.loads(state.read_text())
    assert 0 < len(saved["exact"]["finished"]) < 12 and not saved["complete"]
    assert not (tmp_path / "table.json").exists()

    resumed = _torchrun(args, tmp_path)
    out, err = resumed.communicate(timeout=TIMEOUT_S)
    assert resumed.returncode == 0, err
    _single(stats_args(folder, "single.json"), tmp_path, monkeypatch)
    assert (tmp_path / "table.json").read_bytes() == (tmp_path / "single.json").read_bytes()


def test_state_of_one_process_resumes_on_two_ranks(stats_args, tmp_path, monkeypatch, coco_scenes):
    # The state names no ranks: what one process saved, two ranks finish (the unfinished images
    # shared out again), and the table is the uninterrupted one.
    folder = tmp_path / "scenes"
    shutil.copytree(coco_scenes, folder)
    _single(stats_args(folder, "whole.json"), tmp_path, monkeypatch)
    _single(stats_args(folder, "half.json", "--limit", "2"), tmp_path, monkeypatch)
    half = json.loads((tmp_path / "half.json").read_text())  # as a stopped run over all 4 saves it
    half.pop("limit")
    half["images"]["selected"] = 4
    half["complete"] = False
    (tmp_path / "table.partial.json").write_text(json.dumps(half))
    job = _torchrun(stats_args(folder, "table.json"), tmp_path)
    out, err = job.communicate(timeout=TIMEOUT_S)
    assert job.returncode == 0, err
    assert (tmp_path / "table.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert not (tmp_path / "table.partial.json").exists()


def _image(image_id: int, side: int | None) -> CocoImage:
    return CocoImage(image_id, f"{image_id}.png", Path(f"{image_id}.png"), None if side is None else (side, side))


def test_split_by_size_balances_pixels_and_covers_every_image_once():
    images = [_image(i, side) for i, side in enumerate([100, 10, 90, 20, 80, 30, None, 50])]
    shares = split_by_size(images, 3)
    assert sorted(i.id for share in shares for i in share) == list(range(8))
    assert all([i.id for i in share] == sorted(i.id for i in share) for share in shares)
    pixels = [sum((i.size or (55, 55))[0] ** 2 for i in share) for share in shares]
    assert max(pixels) - min(pixels) <= 100 ** 2  # at most one image apart
    assert split_by_size(images, 3) == shares
    assert split_by_size(images[:1], 2) == [[images[0]], []]


def test_ranks_from_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert Ranks.from_environment() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert Ranks.from_environment() == Ranks(3, 4, 1, 2)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert Ranks.from_environment() is None
