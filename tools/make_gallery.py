"""Regenerates the README gallery (docs/gallery/) by running the command line on samples/.

Usage: python tools/make_gallery.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"

# (output name, deformviz arguments); every figure is 300 dpi at a column or text width.
FIGURES = [
    ("scene_sample.png", ["sample", "samples/scene_001.png", "--width", "cvpr-text"]),
    ("chelsea_sample.png", ["sample", "samples/chelsea.jpg", "--width", "cvpr-text"]),
    ("scene_roi.png", ["roi", "samples/scene_000.png", "--show-regular", "--width", "cvpr-column"]),
    ("coffee_roi.png", ["roi", "samples/coffee.jpg", "--box", "150", "20", "430", "300",
                        "--show-regular", "--width", "cvpr-column"]),
    ("astronaut_grid.png", ["sample", "samples/astronaut.jpg", "--grid", "--width", "cvpr-column"]),
    ("scene_column.png", ["sample", "samples/scene_001.png", "--width", "cvpr-column"]),
    ("scene_density.png", ["sample", "samples/scene_001.png", "--style", "density",
                           "--width", "cvpr-column"]),
    ("coffee_hull.png", ["sample", "samples/coffee.jpg", "--style", "hull", "--auto", "6",
                         "--score-threshold", "0.1", "--width", "cvpr-text"]),
]


def main() -> None:
    GALLERY.mkdir(parents=True, exist_ok=True)
    for name, arguments in FIGURES:
        command = [sys.executable, "-m", "deformviz", *arguments, "-o", str(GALLERY / name),
                   "--dpi", "150"]
        print("+", " ".join(command[2:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
