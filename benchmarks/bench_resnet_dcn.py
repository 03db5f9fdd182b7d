"""Forward time of a ResNet-50 with DCN in c3-c5 against the same backbone with plain convs.

Target (issue 8): at most 1.5x on the 2-core development machine, for an 800 x 1216 photo
(a 4:3 photo resized to shorter side 800 and padded to a multiple of 32). The two backbones
share every weight; the deformable one has random non-zero offset convs (offsets of a few
cells, like a trained network's). Repetitions alternate plain / deformable so that load on a
shared machine hits both alike; the ratio of medians and the median of per-pair ratios are
printed side by side.

Also timed: `load_network` on that backbone saved as an mmdetection checkpoint
({'meta', 'state_dict'}, keys under backbone.), i.e. reading, checking and rebuilding it.

Usage: python benchmarks/bench_resnet_dcn.py [--repeats N] [--modulated] [--offset-groups G]
       [--height H --width W] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from deformviz.networks import load_network
from deformviz.networks.resnet import DeformSpec, ResNet, ResNetSpec
from deformviz.ops import operator_backend


def build(dcn: DeformSpec | None, seed: int = 0) -> ResNet:
    torch.manual_seed(seed)
    stages = (False, True, True, True) if dcn is not None else (False,) * 4
    return ResNet(ResNetSpec.standard(50, dcn=dcn, dcn_stages=stages)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--width", type=int, default=1216)
    parser.add_argument("--modulated", action="store_true", help="DCNv2 instead of DCNv1")
    parser.add_argument("--offset-groups", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    dcn = DeformSpec(args.modulated, args.offset_groups)
    deformable, plain = build(dcn), build(None)
    # Same weights everywhere; the plain model lacks only the offset convs.
    missing = plain.load_state_dict(deformable.state_dict(), strict=False)
    assert not missing.missing_keys and all("conv_offset" in k for k in missing.unexpected_keys)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name in deformable.deformable_layers:
            conv = deformable.get_submodule(name).conv_offset
            conv.weight.normal_(0, 0.002, generator=generator)
            conv.bias.uniform_(-2, 2, generator=generator)

    loads = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dcn_r50.pth"
        torch.save({"meta": {"mmdet_version": "2.28.2"},
                    "state_dict": {f"backbone.{k}": v for k, v in deformable.state_dict().items()}},
                   path)
        size_mb = path.stat().st_size / 1e6
        for _ in range(args.repeats):
            started = time.perf_counter()
            load_network(path)
            loads.append(time.perf_counter() - started)

    image = torch.randn(1, 3, args.height, args.width, generator=generator)
    times = {"plain": [], "deformable": []}
    with torch.inference_mode():
        plain(image), deformable(image)  # warm-up: first-call allocations
        for _ in range(args.repeats):
            for name, model in (("plain", plain), ("deformable", deformable)):
                started = time.perf_counter()
                model(image)
                times[name].append(time.perf_counter() - started)

    pairs = [d / p for d, p in zip(times["deformable"], times["plain"])]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, operators "
          f"{operator_backend(image.device)}; ResNet-50, {dcn.version} "
          f"(offset groups {dcn.offset_groups}) in all {len(deformable.deformable_layers)} "
          f"c3-c5 blocks; input 1 x 3 x {args.height} x {args.width}; {args.repeats} "
          "interleaved repetitions")
    print(f"load_network, {size_mb:.0f} MB mmdetection checkpoint: median "
          f"{statistics.median(loads):.3f} s (min {min(loads):.3f}, max {max(loads):.3f})")
    for name, values in times.items():
        print(f"{name:>10}: median {statistics.median(values):.3f} s  (min {min(values):.3f}, "
              f"max {max(values):.3f})")
    print(f"ratio deformable / plain: {statistics.median(times['deformable']) / statistics.median(times['plain']):.2f} "
          f"(median of pairs {statistics.median(pairs):.2f}, min {min(pairs):.2f}, "
          f"max {max(pairs):.2f}); target <= 1.5")


if __name__ == "__main__":
    main()
