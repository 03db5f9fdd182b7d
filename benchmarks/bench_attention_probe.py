"""Overhead of `probe_attention` on a Deformable DETR R-50 forward pass, measured side by side.

The network is transformers' DeformableDetrForObjectDetection with its default sizes (6 + 6
layers, d_model 256, 8 heads, 4 levels x 4 points, 300 queries) on a ResNet-50 built from
transformers' own ResNetConfig (no timm, no download), random weights. One 800 x 1066 image
(COCO's shortest edge 800). Plain forward passes and probed ones alternate; the medians are
compared, and the fastest runs too (less sensitive to other load on the machine); the order
within a round alternates. Target: the probe adds at most 10 %.

Usage:
    python benchmarks/bench_attention_probe.py [--repeats 5] [--threads N] [--size 800 1066]

Needs `pip install transformers` (the test extra). Numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch


def build_model():
    import transformers

    backbone = transformers.ResNetConfig(out_features=["stage2", "stage3", "stage4"])
    config = transformers.DeformableDetrConfig(backbone_config=backbone)
    torch.manual_seed(0)
    return transformers.DeformableDetrForObjectDetection(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--size", type=int, nargs=2, default=(800, 1066))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from deformviz.probe.attention_probe import probe_attention

    model = build_model()
    height, width = args.size
    inputs = {"pixel_values": torch.rand(1, 3, height, width),
              "pixel_mask": torch.ones(1, height, width, dtype=torch.long)}

    def plain() -> None:
        with torch.no_grad():
            model(**inputs)

    def probed() -> None:
        probe_attention(model, inputs)

    plain()
    probed()  # warm-up of both paths
    times: dict[str, list[float]] = {"plain": [], "probed": []}
    rounds = [(("plain", plain), ("probed", probed)), (("probed", probed), ("plain", plain))]
    for repeat in range(args.repeats):
        for name, run in rounds[repeat % 2]:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    result = probe_attention(model, inputs)
    recorded = sum(r.locations.numel() + r.weights.numel() + r.reference_points.numel()
                   for r in result) * result.records[0].locations.element_size()
    plain_s, probed_s = (statistics.median(times[k]) for k in ("plain", "probed"))
    print(f"machine: {platform.processor() or platform.machine()}, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}")
    print(f"Deformable DETR R-50, {height}x{width}, random weights, {len(result)} attention "
          f"calls recorded ({recorded / 2 ** 20:.0f} MiB)")
    for name, median in (("plain ", plain_s), ("probed", probed_s)):
        runs = ", ".join(f"{t:.3f}" for t in times[name.strip()])
        print(f"{name} forward median {median:.3f} s  ({runs})")
    print(f"overhead: {100 * (probed_s / plain_s - 1):+.1f} % of the median, "
          f"{100 * (min(times['probed']) / min(times['plain']) - 1):+.1f} % of the fastest "
          "(target <= +10 %)")


if __name__ == "__main__":
    main()
