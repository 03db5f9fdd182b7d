"""No input is ever overwritten, batches never eat their own figures, failed runs leave no
folders, and the small things a new user hit: each through the command line, asserting the
exit code, one line on stderr, no traceback, and the input files' bytes unchanged."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.fixture
def photos(samples: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.jpg", "scene_000.png"):
        (folder / name).write_bytes((samples / name).read_bytes())
    return folder


@pytest.fixture
def no_model(monkeypatch) -> None:
    import deformviz.cli.runtime as runtime

    monkeypatch.setattr(runtime, "load_cli_model", lambda *a: pytest.fail("model loaded"))


def test_figure_equal_to_an_input_is_refused_before_any_work(run, photos: Path,
                                                             no_model) -> None:
    before = _digest(photos)
    target = photos / "scene_000.png"
    _one_line_error(run("sample", target, "-o", target), 2,
                    "is an input; refusing to overwrite it")
    _one_line_error(run("sample", photos, "-o", photos, "--save-data", photos / "x.json",
                        "-f", "png"), 2, "give a folder")
    assert _digest(photos) == before


def test_data_equal_to_an_input_is_refused_before_any_work(run, photos: Path,
                                                           no_model) -> None:
    boxes = photos / "boxes.json"
    boxes.write_text("[[10, 10, 100, 100]]")
    before = _digest(photos)
    _one_line_error(run("roi", photos / "chelsea.jpg", "--boxes", boxes, "--save-data", boxes,
                        "-o", "r.png"), 2, "is an input; refusing to overwrite it")
    assert _digest(photos) == before and not Path("r.png").exists()


def test_model_file_is_never_overwritten(run, photos: Path, test_model_path: Path,
                                         tmp_path: Path) -> None:
    weights = tmp_path / "weights.png"  # a figure name that happens to be the weights file
    weights.write_bytes(test_model_path.read_bytes())
    before = weights.read_bytes()
    result = run("sample", photos / "chelsea.jpg", "-o", weights, "--model", weights, model=False)
    _one_line_error(result, 2, "is an input")
    assert weights.read_bytes() == before


def test_batch_into_its_input_folder_never_takes_its_own_figures(run, photos: Path) -> None:
    args = ("sample", photos, "-o", photos, "--size", "128", "--levels", "1", "--auto", "1",
            "--dpi", "50")
    first = run(*args)
    assert first.exit_code == 0, first.output
    written = sorted(first.stdout.split())
    assert written == sorted(str(photos / f"{n}_sample.png") for n in ("chelsea", "scene_000"))
    figures = {p: p.read_bytes() for p in map(Path, written)}
    second = run(*args)
    assert second.exit_code == 0, second.output
    assert sorted(second.stdout.split()) == written  # no chelsea_sample_sample.png
    assert "skipped 2 figure(s) deformviz drew earlier" in second.stderr
    assert {p: p.read_bytes() for p in figures} == figures  # same result
    assert sorted(p.name for p in photos.iterdir()) == [
        "chelsea.jpg", "chelsea_sample.png", "scene_000.png", "scene_000_sample.png"]
    only_figures = run("sample", photos / "chelsea_sample.png")
    _one_line_error(only_figures, 2, "is a figure deformviz drew")


def test_failed_batch_leaves_no_folder_it_created(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_text("not an image")
    (bad / "b.jpg").write_text("nor this")
    result = run("sample", bad, "-o", tmp_path / "out" / "figures", "--save-data",
                 tmp_path / "data", "--size", "128")
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


def test_interrupted_write_removes_the_folder_it_created(tmp_path: Path, monkeypatch) -> None:
    import deformviz.atomic_files as atomic_files
    from deformviz.cli.batch import write_outputs

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs([(tmp_path / "new" / "deeper" / "x.png", b"png")])
    assert sorted(tmp_path.iterdir()) == []


def _fail_on(name: str, error: BaseException):
    import deformviz.visualize.sampling as sampling

    original = sampling.sample_locations

    def patched(model, image, **kwargs):
        if Path(getattr(image, "name", image)).name == name:
            raise error
        return original(model, image, **kwargs)

    return patched


@pytest.mark.parametrize("broken,failing,code", [
    (True, False, 2),   # bad input only
    (False, True, 1),   # runtime failure only
    (True, True, 1),    # both: the runtime failure wins
])
def test_batch_exit_codes(run, photos: Path, monkeypatch, broken: bool, failing: bool,
                          code: int) -> None:
    import deformviz.visualize.sampling as sampling

    if broken:
        (photos / "broken.png").write_text("not an image")
    if failing:
        monkeypatch.setattr(sampling, "sample_locations",
                            _fail_on("scene_000.png", RuntimeError("device lost")))
    result = run("sample", photos, "-o", "figures", "--size", "128", "--levels", "1",
                 "--auto", "1", "--dpi", "50")
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert "chelsea_sample.png" in result.stdout  # the good image was still drawn
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == int(broken) + int(failing)
    if failing:
        assert any("scene_000.png: unexpected RuntimeError: device lost" in e for e in errors)


def test_grid_with_levels_is_refused(run, samples: Path) -> None:
    _one_line_error(run("sample", samples / "chelsea.jpg", "--grid", "--levels", "2"), 2,
                    "--levels must be 1 with --grid")
    ok = run("sample", samples / "chelsea.jpg", "--grid", "--levels", "1", "--size", "128",
             "--dpi", "50", "-o", "g.png")
    assert ok.exit_code == 0, ok.output


def test_negative_box_message_has_no_infinities(run, samples: Path) -> None:
    result = run("roi", samples / "chelsea.jpg", "--box", "-5", "10", "50", "50", "--no-clip")
    _one_line_error(result, 2, "has negative coordinates")
    assert "inf" not in result.stderr


def test_bad_model_file_is_bad_input_without_internal_text(run, samples: Path,
                                                           tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02this is not a checkpoint")
    before = bad.read_bytes()
    result = run("sample", samples / "chelsea.jpg", "--model", bad, model=False)
    _one_line_error(result, 2, "not a checkpoint")
    for internal in ("Unpickl", "Error", "zip", "pickle", "opcode"):
        assert internal not in result.stderr.replace("error: ", "", 1)
    assert bad.read_bytes() == before


@pytest.mark.parametrize("value", ["nan", "NaN", "inf"])
def test_dpi_must_be_a_number(run, samples: Path, value: str) -> None:
    result = run("sample", samples / "chelsea.jpg", "--dpi", value)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "--dpi" in result.stderr


def test_pixel_limit_is_stated_and_can_be_raised(run, tmp_path: Path) -> None:
    large = tmp_path / "large.png"
    Image.fromarray(np.full((1100, 1000, 3), 128, dtype=np.uint8)).save(large)
    before = large.read_bytes()
    result = run("sample", large, "--max-megapixels", "1")
    _one_line_error(result, 2, "exceeds the limit of 1 megapixels")
    assert "--max-megapixels" in result.stderr
    ok = run("sample", large, "--max-megapixels", "2", "--size", "128", "--levels", "1",
             "--auto", "1", "--dpi", "50", "-o", "large_fig.png")
    assert ok.exit_code == 0, ok.output
    assert large.read_bytes() == before


def test_pillow_and_deformviz_limits_agree(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    from deformviz.errors import ImageLoadError
    from deformviz.imaging import MAX_IMAGE_PIXELS, load_image

    path = tmp_path / "wide.png"
    PILImage.new("L", (16000, 16000)).save(path)  # 256 MP: beyond both defaults
    with pytest.raises(ImageLoadError, match="limit of 100 megapixels"):
        load_image(path)
    assert MAX_IMAGE_PIXELS == 100_000_000
    assert load_image(path, max_pixels=300_000_000).size == (16000, 16000)  # Pillow agrees


def test_missing_input_is_reported_before_torch_loads(run, monkeypatch) -> None:
    import deformviz.cli.runtime as runtime

    monkeypatch.setattr(runtime, "load_cli_model", lambda *a: pytest.fail("model loaded"))
    monkeypatch.setattr(runtime, "resolve_device", lambda *a: pytest.fail("torch asked"))
    _one_line_error(run("sample", "nowhere.jpg"), 2, "nowhere.jpg: no such file")
    _one_line_error(run("roi", "nowhere.jpg", "--box", "1", "1", "5", "5"), 2,
                    "nowhere.jpg: no such file")


@pytest.mark.parametrize("command", ["sample", "roi"])
def test_help_shows_images_not_type_names(run, command: str) -> None:
    result = run(command, "--help", model=False)
    assert result.exit_code == 0
    usage, _, rest = result.stdout.partition("\n")
    assert usage == f"Usage: deformviz {command} [OPTIONS] IMAGE..."
    assert "\n  IMAGE...  " in rest
    # Only choices in angle brackets (<png|pdf|svg>), never a type name.
    for shown in re.findall(r"<([^<>=\s]*)>", result.stdout):
        assert "|" in shown and "[" not in shown, shown
    for internal in ("list[", "int range", "float range", "<path>", "<str>", "Optional["):
        assert internal not in result.stdout


def test_save_data_json_is_compact_and_states_the_coordinate_order_once(run,
                                                                          samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--auto", "1", "--size", "128", "-o",
                 "f.png", "--save-data", "d.json", "--dpi", "50")
    assert result.exit_code == 0, result.output
    text = Path("d.json").read_text()
    assert text.count("\n") == 1 and ", " not in text.split('"conventions"')[0][-200:]
    data = json.loads(text)
    assert data["conventions"]["points"].startswith("(x, y)")
    assert text.count("(x, y)") == 1


def test_roi_without_boxes_where_nothing_is_found(run, samples: Path) -> None:
    result = run("roi", samples / "chelsea.jpg", "--score-threshold", "1", "--size", "128",
                 "-o", "r.png")
    _one_line_error(result, 2, "the network found no objects")
    assert "--box" in result.stderr
    assert not Path("r.png").exists()


def test_models_lists_every_promised_column(run) -> None:
    result = run("models", model=False)
    assert result.exit_code == 0
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["NAME", "WEIGHTS", "SUMMARY"]
    entries = [r for r in rows if not r.startswith("* the default")]
    assert entries and all(len(r[2:].split(None, 2)) == 3 for r in entries)
    assert all(r[2:].split()[1] in ("present", "missing") for r in entries)
    assert sum(r.startswith("* ") for r in entries) == 1


def test_style_and_titles_from_the_command_line(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--auto", "2", "--style", "hull",
                 "--title", "left", "--title", "right", "--size", "128", "-o", "t.svg")
    assert result.exit_code == 0, result.output
    svg = Path("t.svg").read_text()
    assert ">left<" in svg and ">right<" in svg  # editable text, the given titles
    _one_line_error(run("sample", samples / "chelsea.jpg", "--title", "only one"), 2,
                    "--title given 1 times for 3 unit(s)")
    _one_line_error(run("sample", samples / "chelsea.jpg", "--style", "rings"), 2,
                    "--style 'rings': expected one of points, hull, density")
    _one_line_error(run("sample", samples / "chelsea.jpg", "-w", "0.5in"), 2,
                    "smallest usable width is 1.04in")


def test_one_image_into_a_folder_that_does_not_exist_yet(run, samples: Path,
                                                         tmp_path: Path) -> None:
    result = run("sample", samples / "scene_000.png", "-o", "newdir/", "--size", "128",
                 "--levels", "1", "--auto", "1", "--dpi", "40")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(Path("newdir") / "scene_000_sample.png")
    assert (tmp_path / "newdir" / "scene_000_sample.png").is_file()


def test_ctrl_c_says_how_many_images_were_done(tmp_path: Path, capsys) -> None:
    from deformviz.cli.batch import Job, run_jobs

    jobs = [Job(tmp_path / f"{i}.png", tmp_path / f"{i}_sample.png", None) for i in range(4)]

    def work(job: Job) -> list[Path]:
        if job is jobs[2]:
            raise KeyboardInterrupt
        return [job.figure]

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, True, work, "sample")
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1] == "sample: interrupted; 2 of 4 images done"
    assert captured.out.split() == [str(jobs[0].figure), str(jobs[1].figure)]


def test_an_animated_gif_is_refused_not_cut_to_its_first_frame(run, tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue", "green")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    _one_line_error(run("sample", tmp_path / "anim.gif", "-o", "a.png"), 2,
                    "holds 3 frames (animated or multi-page)")
    assert not Path("a.png").exists()
