"""Speed of deformviz's dcnv3 on the CPU, as ratios measured side by side in one run.

Contenders, float32, on InternImage-T's four stages (channels 64..512, groups 4..32, 16 channels
per group, 3x3 kernel, stride 1, padding 1), random offsets of a few cells and a softmax mask:

* ours: `deformviz.ops.dcnv3`.
* GEMM floor: one sgemm of the im2col-equivalent shape, [N * Ho * Wo, K * C] x [K * C, C]: the
  multiplication a regular KxK convolution of C to C channels on the same map would run
  (forward: that GEMM; forward+backward: it and its two backward GEMMs, through autograd).
  Target: ours within 1.3x of it.
* published: InternImage's pure-PyTorch formulation (`dcnv3_core_pytorch`: pad, F.grid_sample,
  modulate, sum), re-stated in `deformviz.ops.reference_dcnv3.dcnv3_grid_sample`.
  Target: ours at least 2x faster.

The contenders take turns call by call, so a slow patch of a shared machine hits all of them
alike; the medians are compared, and the minima too: on a heavily loaded machine a median can be
a scheduler stall (a thread of a parallel region waiting for a core), while the minimum
estimates the uncontended cost. Forward+backward backpropagates into every input.

Usage: python benchmarks/bench_dcnv3.py [--batches 1 4] [--threads N ...] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass

import torch

from deformviz.ops import cpu_vector_path, dcnv3, operator_backend
from deformviz.ops.reference_dcnv3 import dcnv3_grid_sample


@dataclass(frozen=True)
class Stage:
    name: str
    size: int
    channels: int
    groups: int


STAGES = [Stage("stage1 56x56x64 G4", 56, 64, 4), Stage("stage2 28x28x128 G8", 28, 128, 8),
          Stage("stage3 14x14x256 G16", 14, 256, 16), Stage("stage4 7x7x512 G32", 7, 512, 32)]
KERNEL = 3
TAPS = KERNEL * KERNEL


def make_tensors(stage: Stage, batch: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    size, channels, groups = stage.size, stage.channels, stage.groups
    logits = torch.randn(batch, size, size, groups, TAPS, generator=generator)
    positions = batch * size * size
    return {
        "input": torch.randn(batch, size, size, channels, generator=generator),
        "offset": torch.randn(batch, size, size, groups * TAPS * 2, generator=generator) * 2,
        "mask": logits.softmax(-1).flatten(-2),
        "groups": groups,
        "columns": torch.randn(positions, TAPS * channels, generator=generator),
        "weights": torch.randn(TAPS * channels, channels, generator=generator) / 24,
    }


def ours(t: dict) -> torch.Tensor:
    return dcnv3(t["input"], t["offset"], t["mask"], KERNEL, 1, 1, 1, t["groups"], 1.0)


def published(t: dict) -> torch.Tensor:
    return dcnv3_grid_sample(t["input"], t["offset"], t["mask"], (KERNEL, KERNEL), (1, 1),
                             (1, 1), (1, 1), t["groups"], 1.0)


def gemm_floor(t: dict) -> torch.Tensor:
    return t["columns"] @ t["weights"]


CONTENDERS = {"ours": ours, "gemm": gemm_floor, "published": published}
DIFFERENTIABLE = {"ours": ("input", "offset", "mask"), "published": ("input", "offset", "mask"),
                  "gemm": ("columns", "weights")}


def step(name: str, tensors: dict, backward: bool) -> None:
    out = CONTENDERS[name](tensors)
    if backward:
        out.backward(torch.ones_like(out))
        for key in DIFFERENTIABLE[name]:
            tensors[key].grad = None


def interleaved_times(tensors: dict, backward: bool, repeats: int) -> dict:
    """Seconds per call of each contender, `repeats` calls each, taking turns call by call."""
    for key in ("input", "offset", "mask", "columns", "weights"):
        tensors[key].requires_grad_(backward)
    for name in CONTENDERS:  # warm-up
        step(name, tensors, backward)
    times = {name: [] for name in CONTENDERS}
    for _ in range(repeats):
        for name in CONTENDERS:
            start = time.perf_counter()
            step(name, tensors, backward)
            times[name].append(time.perf_counter() - start)
    return times


def cpu_description() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        path, widest = cpu_vector_path()
        ours = f"; deformviz's CPU loops: {path} (widest supported: {widest})"
    except RuntimeError:  # the reference implementation runs: no vector paths
        ours = ""
    return (f"CPU: {model}, {os.cpu_count()} CPUs, vector extension torch uses: "
            f"{torch.backends.cpu.get_cpu_capability()}{ours}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--threads", nargs="+", type=int, default=[torch.get_num_threads()])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(cpu_description())
    print(f"torch {torch.__version__}, backend {operator_backend('cpu')}, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'stage':22} {'batch':>5} {'thr':>3} {'pass':>8} {'ours ms':>9} {'gemm ms':>9} "
          f"{'publ. ms':>9} {'ours/gemm':>9} {'publ./ours':>10} {'min: o/g':>9} {'p/o':>6}")
    met = {key: [] for key in ("median gemm", "median published", "min gemm", "min published")}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for stage in STAGES:
            for batch in args.batches:
                tensors = make_tensors(stage, batch)
                for backward in (False, True):
                    times = interleaved_times(tensors, backward, args.repeats)
                    ratios = {}
                    for label, statistic in (("median", statistics.median), ("min", min)):
                        m = {name: statistic(values) for name, values in times.items()}
                        ratios[label] = (m["ours"] / m["gemm"], m["published"] / m["ours"])
                        met[f"{label} gemm"].append(ratios[label][0] <= 1.3)
                        met[f"{label} published"].append(ratios[label][1] >= 2.0)
                    m = {name: statistics.median(values) for name, values in times.items()}
                    print(f"{stage.name:22} {batch:5d} {threads:3d} "
                          f"{'fwd+bwd' if backward else 'forward':>8} {m['ours'] * 1e3:9.2f} "
                          f"{m['gemm'] * 1e3:9.2f} {m['published'] * 1e3:9.2f} "
                          f"{ratios['median'][0]:9.2f} {ratios['median'][1]:10.1f} "
                          f"{ratios['min'][0]:9.2f} {ratios['min'][1]:6.1f}")
    for label in ("median", "min"):
        gemm, published = met[f"{label} gemm"], met[f"{label} published"]
        print(f"targets met by the {label}s: ours/gemm <= 1.3 in {sum(gemm)} of {len(gemm)} rows, "
              f"published/ours >= 2 in {sum(published)} of {len(published)} rows")
    print(f"load average after: {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
