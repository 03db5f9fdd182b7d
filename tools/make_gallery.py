"""Regenerates the README gallery (docs/gallery/) by running the command line on samples/.

Usage: python tools/make_gallery.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's deformviz
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


# InternImage-T in its published key layout with RANDOM weights (no trained checkpoint can be
# downloaded here): what the figure shows is the drawing, not what a trained network learned.
INTERNIMAGE_CHECKPOINT = Path(tempfile.gettempdir()) / "deformviz_gallery_internimage_t_random.pth"
FIGURES.append(("internimage_sample.png", ["sample", "samples/chelsea.jpg", "--model",
                                           str(INTERNIMAGE_CHECKPOINT), "--short-side", "512",
                                           "--width", "cvpr-text"]))


def write_random_internimage(path: Path) -> None:
    """InternImage-T (C 64, depths 4-4-18-4, groups 4-8-16-32) as a classification checkpoint
    {'model': state_dict}, PyTorch's default initialisation with seed 0."""
    import torch

    from deformviz.networks.internimage_model import InternImageBackbone, InternImageSpec

    torch.manual_seed(0)
    spec = InternImageSpec("DCNv3", 64, (4, 4, 18, 4), (4, 8, 16, 32), (256, 512, 1024, 2048))
    torch.save({"model": InternImageBackbone(spec).state_dict()}, path)


def main() -> None:
    GALLERY.mkdir(parents=True, exist_ok=True)
    write_random_internimage(INTERNIMAGE_CHECKPOINT)
    for name, arguments in FIGURES:
        command = [sys.executable, "-m", "deformviz", *arguments, "-o", str(GALLERY / name),
                   "--dpi", "150"]
        print("+", " ".join(command[2:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
