"""One image or many: inputs, output names, the loop with a progress bar, and the summary.

Everything that can be checked before the network runs is checked first (inputs exist,
output folders writable or creatable, formats known, no output path equal to an input), so
bad input fails fast and writes nothing; output folders are created only when the first file
goes into them. Figures deformviz drew earlier (marked in their PNG metadata) are never
taken as input, so a batch written into its input folder gives the same result when rerun. Then
each image is processed on its own: a bad image is reported on one line and skipped, the
others still run; the exit code says whether any failed (2 bad input, 1 runtime failure).
Written paths go to stdout, one per line; progress and the summary to stderr.

Under torchrun (`torchrun --nproc_per_node N -m deformviz sample FOLDER/ -o figures/`) each
process takes every N-th image of the batch (all output names are decided first, over all
images, so they are the same as one process gives) and writes its own outputs and summary.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deformviz.atomic_files import atomic_write, check_can_create, make_folder
from deformviz.errors import ImageLoadError, InputError, OutputError
from deformviz.output_paths import refuse_overwriting, writable_path
from deformviz.plotting.output import FIGURE_FORMATS, figure_format, is_deformviz_figure

from .errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, exit_code_for, one_line

__all__ = ["Job", "plan_jobs", "run_jobs", "write_outputs", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm", ".pbm")


@dataclass(frozen=True)
class Job:
    """One image and where its outputs go."""

    image: Path
    figure: Path
    data: Path | None


def _expand(inputs: Sequence[Path]) -> tuple[list[Path], bool]:
    """Files as given, folders as their image files (sorted); batch if several or a folder.

    Missing files fail here, before the network loads. Figures deformviz drew are skipped in
    a batch (said on stderr) and refused as a single input.
    """
    images: list[Path] = []
    folder_given, skipped = False, 0
    for path in inputs:
        if path.is_dir():
            folder_given = True
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            ours = [p for p in found if is_deformviz_figure(p)]
            if not found or len(ours) == len(found):
                extra = f" ({len(ours)} figures deformviz drew are not inputs)" if ours else ""
                raise InputError(f"{path}: folder contains no images "
                                 f"({', '.join(IMAGE_SUFFIXES[:5])}, ...){extra}")
            skipped += len(ours)
            images += [p for p in found if p not in ours]
        elif not path.exists():
            raise ImageLoadError(f"{path}: no such file")
        else:
            images.append(path)  # unreadable files are reported when processed
    batch = folder_given or len(images) > 1
    if batch:
        explicit = [p for p in images if p in inputs and is_deformviz_figure(p)]
        skipped += len(explicit)
        images = [p for p in images if p not in explicit]
        if not images:
            raise InputError("every input is a figure deformviz drew; nothing to do")
    elif is_deformviz_figure(images[0]):
        raise InputError(f"{images[0]}: is a figure deformviz drew (PNG metadata), not an "
                         "input image")
    if skipped:
        sys.stderr.write(f"skipped {skipped} figure(s) deformviz drew earlier\n")
    return images, batch


def _unique_names(images: Sequence[Path], suffix: str, extension: str) -> list[str]:
    names, seen = [], set()
    for image in images:
        name, n = f"{image.stem}_{suffix}.{extension}", 2
        while name in seen:  # same stem from different folders
            name, n = f"{image.stem}_{suffix}_{n}.{extension}", n + 1
        seen.add(name)
        names.append(name)
    return names


def plan_jobs(inputs: Sequence[Path], output: Path | None, fmt: str, suffix: str,
              save_data: Path | None, other_inputs: Sequence[Path] = ()) -> tuple[list[Job], bool]:
    """Decide every output path and check it can be written, before any work.

    Args:
        other_inputs: files read besides the images (a boxes file, weights), also never
            overwritten.
    Returns:
        (jobs, batch): one job per image; batch is True for several images or a folder.
    """
    images, batch = _expand(inputs)
    if batch:
        if output is not None and output.suffix.lower().lstrip(".") in FIGURE_FORMATS:
            raise OutputError(f"-o {output}: give a folder when processing several images")
        folder = output or Path(".")
        figures = [folder / name for name in _unique_names(images, suffix, fmt)]
    else:
        if output is None:
            figures = [Path(_unique_names(images, suffix, fmt)[0])]
        elif output.is_dir() or not output.suffix:  # `-o newdir/`: a folder to create
            figures = [output / _unique_names(images, suffix, fmt)[0]]
        else:
            figure_format(output)
            figures = [output]
    data: list[Path | None] = [None] * len(images)
    if save_data is not None:
        from deformviz.visualize.export import DATA_FORMATS, data_format

        if batch:
            if save_data.suffix.lower() in DATA_FORMATS:
                raise OutputError(f"--save-data {save_data}: give a folder when processing "
                                  "several images")
            data = [save_data / name for name in _unique_names(images, suffix, "json")]
        else:
            data_format(save_data)
            data = [save_data]
    # Compared after resolving, before any folder is checked or created.
    refuse_overwriting([("-o", f) for f in figures] + [("--save-data", d) for d in data if d],
                       [*images, *other_inputs])
    for folder in sorted({_folder(path) for path in [*figures, *data] if path}):
        check_can_create(folder)
    return [Job(i, f, d) for i, f, d in zip(images, figures, data)], batch


def _folder(path: Path) -> Path:
    """The folder `path` goes into, as the user spelled it unless `..` makes that folder
    one that would have to be created first (`new/../a.png` goes into `.`)."""
    return writable_path(path).parent if ".." in path.parent.parts else path.parent


def write_outputs(outputs: Sequence[tuple[Path, bytes]]) -> list[Path]:
    """Write each (path, bytes) atomically, after all were produced: nothing half-written.

    Missing output folders are created here; if a write fails (or is interrupted), folders
    this call created and left empty are removed again.
    """
    created: list[Path] = []
    try:
        for path, payload in outputs:
            target = writable_path(path)  # `new/../a.png` never creates `new/`
            created += make_folder(target.parent)
            with atomic_write(target) as handle:
                handle.write(payload)
    except BaseException:
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (or already gone): keep it
        raise
    return [path for path, _ in outputs]


def _progress(batch: bool, total: int):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    console = Console(stderr=True, highlight=False)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    redirect_stdout=False, redirect_stderr=False,
                    disable=not (batch and console.is_terminal))  # no bar to draw in a pipe


def run_jobs(jobs: Sequence[Job], batch: bool, work: Callable[[Job], list[Path]],
             command: str) -> int:
    """Run `work` on every job (this rank's share under torchrun); print written paths; return
    the exit code."""
    from deformviz.statistics.ranks import Ranks

    ranks = Ranks.from_environment() if batch else None
    if ranks is not None:
        jobs = list(jobs)[ranks.rank::ranks.world]
        command = f"{command} (rank {ranks.rank} of {ranks.world})"
    started, failures, written = time.perf_counter(), [], 0
    with _progress(batch, len(jobs)) as progress:
        task = progress.add_task(command, total=len(jobs))
        for job in jobs:
            progress.update(task, description=f"{command} {job.image.name}")
            try:
                paths = work(job)
            except KeyboardInterrupt:  # say how far it got; the written files are complete
                progress.stop()
                sys.stderr.write(f"{command}: interrupted; {written} of {len(jobs)} images "
                                 "done\n")
                raise
            except Exception as error:  # noqa: BLE001 - reported per image, the batch goes on
                if not batch:
                    raise  # a single image: the command's one error path
                failures.append(exit_code_for(error))
                message = one_line(error)
                if str(job.image) not in message:
                    message = f"{job.image}: {message}"
                progress.console.print(f"error: {message}", markup=False, soft_wrap=True)
            else:
                written += 1
                for path in paths:
                    sys.stdout.write(f"{path}\n")
                sys.stdout.flush()
            progress.advance(task)
    if batch:
        elapsed = time.perf_counter() - started
        rate = written / elapsed if elapsed > 0 else 0.0
        sys.stderr.write(f"{command}: {written} of {len(jobs)} images done in {elapsed:.1f} s "
                         f"({rate:.2f} images/s)"
                         + (f"; {len(failures)} failed\n" if failures else "\n"))
    if not failures:
        return EXIT_OK
    return EXIT_FAILURE if EXIT_FAILURE in failures else EXIT_BAD_INPUT
