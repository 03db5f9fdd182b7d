"""Load time of the bundled model and the time of one forward pass on a 512 x 512 image (CPU).

Target: under 0.5 s each on the 2-core development machine. Each figure is the median of
several fresh measurements in this one process (loading re-reads and re-verifies the file).

Usage: python benchmarks/bench_model.py [--model NAME] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from deformviz.models.registry import DEFAULT_MODEL, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    loads, forwards = [], []
    image = torch.rand(1, 3, 512, 512)
    for _ in range(args.repeats):
        started = time.perf_counter()
        model = load_model(args.model)
        loads.append(time.perf_counter() - started)
    with torch.no_grad():
        model(image)  # warm-up: first-call allocations
        for _ in range(args.repeats):
            started = time.perf_counter()
            dense = model(image)
            model.detect(dense, model.feature_grid((512, 512)))
            forwards.append(time.perf_counter() - started)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}")
    print(f"load (read + sha256 + build):   median {statistics.median(loads):.3f} s  "
          f"(min {min(loads):.3f}, max {max(loads):.3f})")
    print(f"forward + decode, 512 x 512:    median {statistics.median(forwards):.3f} s  "
          f"(min {min(forwards):.3f}, max {max(forwards):.3f})")


if __name__ == "__main__":
    main()
