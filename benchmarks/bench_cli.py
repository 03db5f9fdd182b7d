"""Speed of the command line, as ratios measured side by side in one run.

1. Cold start: wall time of `deformviz sample samples/chelsea.jpg -o x.png` (a fresh process:
   imports, model load, one image, one PNG) divided by the wall time of
   `python -c "import torch, matplotlib.pyplot"`, the floor any torch + matplotlib tool pays.
   The two are run alternately, several times each, and the medians compared (target <= 1.5).
2. Batch: `deformviz sample DIR -o OUT` over 50 images (the bundled photos, repeated): images
   per second overall, and per image from the command's own summary (model loaded once).
3. Where the time goes per image, in process: network + geometry vs figure + PNG rendering.

Usage:
    python benchmarks/bench_cli.py --model NAME_OR_PATH [--repeats 5] [--batch 50]
    python benchmarks/bench_cli.py --test-model     # the deterministic test model (no weights)

Numbers depend on the machine and its load; record them with the machine's description.
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PHOTOS = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg")


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return elapsed


def _deformviz() -> list[str]:
    script = shutil.which("deformviz")
    return [script] if script else [sys.executable, "-m", "deformviz"]


def cold_start(model: str, image: Path, repeats: int, work: Path) -> dict:
    baseline_cmd = [sys.executable, "-c", "import torch, matplotlib.pyplot"]
    cli_cmd = [*_deformviz(), "sample", str(image), "-o", str(work / "x.png"), "--model", model]
    _wall(baseline_cmd), _wall(cli_cmd)  # warm the file cache for both
    baseline, cli = [], []
    for _ in range(repeats):  # alternate, so drifting load hits both alike
        baseline.append(_wall(baseline_cmd))
        cli.append(_wall(cli_cmd))
    b, c = statistics.median(baseline), statistics.median(cli)
    return {"import_median_s": b, "cli_median_s": c, "ratio": c / b}


def batch(model: str, count: int, work: Path) -> dict:
    folder = work / "batch"
    folder.mkdir()
    for i in range(count):
        photo = SAMPLES / PHOTOS[i % len(PHOTOS)]
        (folder / f"{i:03d}_{photo.name}").write_bytes(photo.read_bytes())
    command = [*_deformviz(), "sample", str(folder), "-o", str(work / "figures"),
               "--model", model]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({done.returncode}):\n{done.stderr}")
    summary = re.search(r"done in ([0-9.]+) s \(([0-9.]+) images/s\)", done.stderr)
    return {"images": count, "wall_s": wall, "images_per_s_overall": count / wall,
            "images_per_s_loop": float(summary.group(2)) if summary else float("nan")}


def breakdown(model_spec: str, repeats: int) -> dict:
    """Median seconds per image: network + geometry, and figure + PNG rendering."""
    from deformviz.cli.runtime import load_cli_model
    from deformviz.plotting import plot_sampling, render_figure
    from deformviz.visualize import sample_locations

    model, _ = load_cli_model(model_spec, "cpu")
    compute, render = [], []
    for i in range(repeats * len(PHOTOS)):
        photo = SAMPLES / PHOTOS[i % len(PHOTOS)]
        start = time.perf_counter()
        result = sample_locations(model, photo)
        middle = time.perf_counter()
        render_figure(plot_sampling(result), "png", dpi=300)
        end = time.perf_counter()
        compute.append(middle - start)
        render.append(end - middle)
    return {"network_geometry_s": statistics.median(compute),
            "figure_png_s": statistics.median(render)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="registered model name or exported weights path")
    parser.add_argument("--test-model", action="store_true",
                        help="use the deterministic test model (tests/model_factory.py)")
    parser.add_argument("--image", type=Path, default=SAMPLES / "chelsea.jpg")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()

    import matplotlib
    import torch

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.test_model:
            sys.path.insert(0, str(ROOT))
            from tests.model_factory import export_test_model

            model = str(export_test_model(work / "test-model.pt"))
        elif args.model:
            model = args.model
        else:
            from deformviz.models.registry import DEFAULT_MODEL

            model = DEFAULT_MODEL
        print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
              f"torch threads, python {platform.python_version()}, torch {torch.__version__}, "
              f"matplotlib {matplotlib.__version__}")
        print(f"model: {'deterministic test model' if args.test_model else model}")
        cold = cold_start(model, args.image, args.repeats, work)
        print(f"cold start: deformviz sample {args.image.name} -o x.png  "
              f"{cold['cli_median_s']:.2f} s  vs  import torch, matplotlib.pyplot  "
              f"{cold['import_median_s']:.2f} s  ->  ratio {cold['ratio']:.2f} "
              f"(median of {args.repeats}, target <= 1.5)")
        result = batch(model, args.batch, work)
        print(f"batch: {result['images']} images in {result['wall_s']:.1f} s wall -> "
              f"{result['images_per_s_overall']:.2f} images/s overall, "
              f"{result['images_per_s_loop']:.2f} images/s in the loop (model loaded once)")
        split = breakdown(model, max(1, args.repeats // 2))
        print(f"per image (median): network + geometry {split['network_geometry_s']:.3f} s, "
              f"figure + 300-dpi PNG {split['figure_png_s']:.3f} s")


if __name__ == "__main__":
    main()
