"""Where the CPU deform_conv2d forward spends its time, against F.conv2d, in one thread.

For each row of bench_ops.py (DCNv1, dilation 2), measured side by side with interleaved calls:
  conv2d     F.conv2d of the same shape (oneDNN's direct convolution)
  ours       deformviz's deform_conv2d
  sampling   ours with one output channel: the channels-last copy, the stencils and the column
             tiles, with a negligible GEMM
  gemm       the GEMMs alone: torch.mm of the weights [O, C*9] with every column tile
             [256 positions, C*9] of the batch, as the kernel runs them (MKL's sgemm)
Ratios to conv2d show the bound: ours ~ gemm + sampling, and gemm alone is what MKL's GEMM
costs against oneDNN's convolution at that shape.

Usage: python benchmarks/bench_ops_breakdown.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from bench_ops import ROWS
from deformviz.ops import deform_conv2d

TILE = 256  # kMaxTilePositions of cuda_ext/csrc/cpu/deform_conv2d_cpu.cpp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, float32, DCNv1, dilation 2; ratios to F.conv2d")
    print(f"{'row':<8}{'conv2d ms':>11}{'ours':>8}{'sampling':>10}{'gemm':>8}")
    for row in ROWS:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(row.batch, row.channels, row.height, row.width, generator=g)
        offset = torch.randn(row.batch, 18, row.height, row.width, generator=g) * 2
        weight = torch.randn(row.channels, row.channels, 3, 3, generator=g) * 0.02
        one = weight[:1].clone()
        positions = row.batch * row.height * row.width
        tiles = [torch.randn(min(TILE, positions - start), row.channels * 9, generator=g)
                 for start in range(0, positions, TILE)]
        flat = weight.reshape(row.channels, -1)
        out = torch.empty(row.channels, TILE)
        fns = {
            "conv2d": lambda: F.conv2d(x, weight, padding=2, dilation=2),
            "ours": lambda: deform_conv2d(x, offset, weight, padding=2, dilation=2),
            "sampling": lambda: deform_conv2d(x, offset, one, padding=2, dilation=2),
            "gemm": lambda: [torch.mm(flat, t.t(), out=out[:, :t.shape[0]]) for t in tiles],
        }
        times = {name: [] for name in fns}
        for fn in fns.values():
            fn()
        for _ in range(args.repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(v) for name, v in times.items()}
        print(f"{row.name:<8}{med['conv2d'] * 1e3:>11.1f}"
              + "".join(f"{med[n] / med['conv2d']:>{w}.2f}"
                        for n, w in (("ours", 8), ("sampling", 10), ("gemm", 8))), flush=True)


if __name__ == "__main__":
    main()
