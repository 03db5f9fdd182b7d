"""Regenerates the README's deformable-attention figures (docs/gallery/attention_*.png).

A real architecture with random weights: Deformable DETR (transformers' classes, default
config: d_model 256, 8 heads, 4 levels x 4 points, 6 + 6 layers, 300 queries) on transformers'
own ResNet-50 (no timm, no download), weights from a fixed seed; the sampling-offset and
attention-weight projections get seeded random values as well (the library's initialisation
makes every attention weight equal). Saved with `save_pretrained` and the default
DeformableDetrImageProcessor (shortest edge 800) to a temporary folder, then drawn with the
command line. The figures show the layout, not what a trained model looks at.

Usage: python tools/make_attention_gallery.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"

FIGURES = [
    ("attention_levels.png", ["--auto", "1", "--split", "level", "--width", "cvpr-text"]),
    ("attention_column.png", ["--auto", "2", "--min-weight", "0.02", "--width", "cvpr-column"]),
    ("attention_layers.png", ["--auto", "1", "--through-layers", "--width", "cvpr-text"]),
]


def write_folder(folder: Path) -> None:
    import torch
    import transformers

    backbone = transformers.ResNetConfig(out_features=["stage2", "stage3", "stage4"])
    config = transformers.DeformableDetrConfig(backbone_config=backbone, num_labels=91)
    torch.manual_seed(0)
    model = transformers.DeformableDetrForObjectDetection(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".sampling_offsets." in name or ".attention_weights." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05
                                + parameter * (name.endswith("bias")))
    model.save_pretrained(folder)
    transformers.DeformableDetrImageProcessor().save_pretrained(folder)


def main() -> None:
    GALLERY.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        write_folder(Path(folder))
        for name, arguments in FIGURES:
            command = [sys.executable, "-m", "deformviz", "sample", "samples/chelsea.jpg",
                       "--model", folder, "--score-threshold", "0", *arguments,
                       "-o", str(GALLERY / name), "--dpi", "150"]
            print("+", " ".join(command[2:]), flush=True)
            subprocess.run(command, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
