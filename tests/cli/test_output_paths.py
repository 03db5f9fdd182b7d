"""Every output option of every command refuses a path that names an input, however it is
spelled (`new/../x`, a symlink, `a/b/../../x`), before any folder is created or the network
loads: exit 2, one line, every file's bytes unchanged, no folder left behind."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.statistics.conftest import write_coco_scenes


def _tree(folder: Path) -> dict[str, str]:
    """Every path under `folder` (folders and links included) with its content's digest."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                         if p.is_file() else "folder")
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def workspace(samples: Path, tmp_path: Path, monkeypatch) -> Path:
    """Inputs of every command in the working folder; loading any network fails the test."""
    import deformviz.cli.runtime as runtime

    monkeypatch.setattr(runtime, "load_cli_model", lambda *a: pytest.fail("model loaded"))
    monkeypatch.setattr(runtime, "load_cli_network", lambda *a: pytest.fail("network loaded"))
    monkeypatch.chdir(tmp_path)
    shutil.copy(samples / "scene_000.png", tmp_path / "photo.png")
    shutil.copy(samples / "scene_000.png", tmp_path / "photo.html")  # an image named .html
    (tmp_path / "boxes.json").write_text("[[10, 10, 60, 60]]")
    (tmp_path / "weights.npz").write_bytes(b"weights a user keeps")
    (tmp_path / "net.json").write_bytes(b"a network file")
    (tmp_path / "part.json").write_text("{}")
    coco = tmp_path / "coco"
    write_coco_scenes(coco, 1, side=64)
    shutil.copy(coco / "instances.json", tmp_path / "ann.partial.json")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"a training checkpoint")
    return tmp_path


# (option under test, the input it must not overwrite, argv with OUT for the output)
CASES: dict[str, tuple[str, Callable[[str], list[str]]]] = {
    "sample -o": ("photo.png", lambda out: ["sample", "photo.png", "-o", out]),
    "sample --save-data": ("weights.npz", lambda out: ["sample", "photo.png", "-o", "f.png",
                                                       "--save-data", out, "--model",
                                                       "weights.npz"]),
    "roi -o": ("photo.png", lambda out: ["roi", "photo.png", "--box", "1", "1", "9", "9",
                                         "-o", out]),
    "roi --save-data (the --boxes file)": ("boxes.json", lambda out: [
        "roi", "photo.png", "--boxes", "boxes.json", "-o", "r.png", "--save-data", out]),
    "explore -o": ("photo.html", lambda out: ["explore", "photo.html", "-o", out]),
    "stats -o": ("coco/instances.json", lambda out: [
        "stats", "coco", "-a", "coco/instances.json", "-o", out]),
    "stats --figure (an image of the folder)": ("coco/scene_000.png", lambda out: [
        "stats", "coco", "-a", "coco/instances.json", "-o", "t.json", "--figure", out]),
    "stats state file of -o": ("ann.partial.json", lambda out: [
        "stats", "coco", "-a", "ann.partial.json",
        "-o", out.removesuffix(".partial.json") + ".json"]),
    "stats --merge -o": ("part.json", lambda out: ["stats", "--merge", "part.json", "-o", out]),
    "stats --merge --figure": ("photo.png", lambda out: [
        "stats", "--merge", "part.json", "-o", "m.json", "--figure", out, "--model",
        "photo.png"]),
    "evaluate --json": ("net.json", lambda out: ["evaluate", "--model", "net.json",
                                                 "--json", out]),
    "train --export": ("run/checkpoint.pt", lambda out: ["train", "run", "--export", out]),
}


def _spellings(victim: Path, workspace: Path) -> dict[str, str]:
    """Ways to name `victim` (relative to the working folder) that differ from its name."""
    link = workspace / f"link{''.join(victim.suffixes)}"
    link.symlink_to(workspace / victim)
    return {
        "new/..": str(victim.parent / "new" / ".." / victim.name),
        "a/b/../..": str(victim.parent / "a" / "b" / ".." / ".." / victim.name),
        "symlink": link.name,
        "absolute": str(workspace / victim),
    }


@pytest.mark.parametrize("spelling", ["new/..", "a/b/../..", "symlink", "absolute"])
@pytest.mark.parametrize("case", list(CASES))
def test_no_output_option_overwrites_an_input(workspace: Path, case: str, spelling: str) -> None:
    from deformviz.cli import app

    victim, argv = CASES[case]
    out = _spellings(Path(victim), workspace)[spelling]
    before = _tree(workspace)
    result = CliRunner().invoke(app, argv(out))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is an input" in errors[0], result.output
    assert "Traceback" not in result.output
    assert _tree(workspace) == before  # no input touched, no `new/` or `a/b/` created


def test_two_outputs_naming_one_file_are_refused(workspace: Path) -> None:
    from deformviz.cli import app

    before = _tree(workspace)
    result = CliRunner().invoke(app, ["stats", "coco", "-a", "coco/instances.json", "-o",
                                      "t.png", "--figure", "new/../t.png"])
    assert result.exit_code == 2 and "name the same file" in result.output, result.output
    assert _tree(workspace) == before


def test_output_through_a_missing_folder_creates_no_folder(run, samples: Path,
                                                          tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    shutil.copy(samples / "scene_000.png", image)
    result = run("sample", image, "-o", "sub/../figure.png", "--size", "128", "--levels", "1",
                 "--auto", "1", "--dpi", "40")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figure.png").is_file() and not (tmp_path / "sub").exists()
    assert image.read_bytes() == (samples / "scene_000.png").read_bytes()


def test_case_insensitive_file_systems_compare_names_folded(tmp_path: Path,
                                                            monkeypatch) -> None:
    """Where the OS folds case (normcase lowers it, as on Windows), PHOTO.PNG is photo.png."""
    from deformviz.errors import OutputError
    from deformviz.output_paths import refuse_overwriting

    image = tmp_path / "photo.png"
    image.write_bytes(b"x")
    refuse_overwriting([("-o", tmp_path / "PHOTO.PNG")], [image])  # Linux: two files
    monkeypatch.setattr(os.path, "normcase", lambda path: os.fspath(path).lower())
    with pytest.raises(OutputError, match="is an input"):
        refuse_overwriting([("-o", tmp_path / "new" / ".." / "PHOTO.PNG")], [image])


def test_hard_links_are_the_same_file(tmp_path: Path) -> None:
    from deformviz.errors import OutputError
    from deformviz.output_paths import refuse_overwriting

    image = tmp_path / "photo.png"
    image.write_bytes(b"x")
    os.link(image, tmp_path / "other.png")
    with pytest.raises(OutputError, match=r"other.png: is an input \("):
        refuse_overwriting([("-o", tmp_path / "other.png")], [image])
