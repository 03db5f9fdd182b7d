"""`deformviz sample` on your own network: an 800 x 1216 photo through a ResNet-50 with DCN in
c3-c5, from an mmdetection-layout checkpoint (target: the whole command under 10 s).

The checkpoint is built here from random weights in mmdetection's published layout
(tests/networks/published_layouts.py; non-zero offset convs), the photo is the bundled
chelsea.jpg resized to 1216 x 800 (which the mmdetection preprocessing keeps at that size).

1. The whole command, `deformviz sample PHOTO --model CKPT -o x.png` in a fresh process, median
   of `--repeats` runs.
2. Where the time goes, in process, same steps as the command: load the checkpoint, the
   probed forward pass (and, side by side, the same forward pass without the probe: its
   hooks cost), geometry (3 auto units x 729 points), drawing the figure, writing the PNG.

Usage:
    python benchmarks/bench_cli_own_network.py [--repeats 3] [--threads N]

Numbers depend on the machine and its load; record them with the machine's description.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.networks.published_layouts builds the checkpoint


def build_checkpoint(path: Path) -> None:
    import torch

    from tests.networks.published_layouts import Layout, dcn_c3_c5, mmdetection_checkpoint

    layout = Layout(widths=(64, 128, 256, 512), outs=(256, 512, 1024, 2048), stem=64,
                    dcn=dcn_c3_c5())
    torch.save(mmdetection_checkpoint(layout), path)


def build_photo(path: Path) -> None:
    from PIL import Image

    Image.open(ROOT / "samples" / "chelsea.jpg").convert("RGB").resize(
        (1216, 800), Image.Resampling.BICUBIC).save(path, quality=92)


def _timed(step, *args):
    start = time.perf_counter()
    value = step(*args)
    return value, time.perf_counter() - start


def whole_command(checkpoint: Path, photo: Path, work: Path, repeats: int) -> list[float]:
    script = shutil.which("deformviz")
    command = [script] if script else [sys.executable, "-m", "deformviz"]
    command += ["sample", str(photo), "--model", str(checkpoint), "-o", str(work / "x.png")]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr}")
    return times


def breakdown(checkpoint: Path, photo: Path, work: Path) -> dict[str, float]:
    import torch

    from deformviz.imaging import load_image
    from deformviz.networks import load_network
    from deformviz.plotting.output import render_figure
    from deformviz.plotting.sampling import plot_sampling
    from deformviz.probe import probe
    from deformviz.visualize import ProbedImage

    network, t_load = _timed(load_network, checkpoint)
    image = load_image(photo)
    prepared, t_prepare = _timed(network.preprocessing.prepare, image)
    with torch.no_grad():
        _, t_plain = _timed(network.module, prepared.tensor)
    result, t_probe = _timed(probe, network.module, prepared.tensor)
    probed = ProbedImage(image, result, prepared.resized_size, str(checkpoint),
                         network.default_chain)
    sampling, t_geometry = _timed(lambda: probed.sample(auto=3))
    figure, t_draw = _timed(plot_sampling, sampling, 6.875)
    png, t_render = _timed(render_figure, figure, "png", 300.0)
    _, t_write = _timed((work / "y.png").write_bytes, png)
    return {"load checkpoint": t_load, "prepare image": t_prepare, "unprobed forward": t_plain,
            "probed forward": t_probe, "geometry (3 units x 729 points)": t_geometry,
            "draw figure": t_draw, "render + write PNG": t_render + t_write}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in process (default: torch's choice)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        checkpoint, photo = work / "faster_rcnn_r50_fpn_dconv_c3-c5.pth", work / "photo.jpg"
        build_checkpoint(checkpoint)
        build_photo(photo)
        print(f"checkpoint: {checkpoint.stat().st_size / 1e6:.0f} MB, photo 1216 x 800")
        times = whole_command(checkpoint, photo, work, args.repeats)
        median = statistics.median(times)
        print(f"whole command: median {median:.2f} s over {len(times)} runs "
              f"({', '.join(f'{t:.2f}' for t in times)}); target < 10 s: "
              f"{'met' if median < 10 else 'NOT met'}")
        steps = breakdown(checkpoint, photo, work)
        for name, seconds in steps.items():
            print(f"  {name:<34}{seconds:6.2f} s")
        print(f"  probe overhead: probed / unprobed forward = "
              f"{steps['probed forward'] / steps['unprobed forward']:.2f}x")


if __name__ == "__main__":
    main()
