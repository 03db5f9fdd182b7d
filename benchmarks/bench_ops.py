"""Speed and memory of deformviz's deform_conv2d, as ratios measured side by side in one run.

CPU: ours against F.conv2d of the same shape (the same convolution without the sampling;
targets: forward within 1.5x, forward+backward within 2.0x, and 2.0x / 2.5x at 128 channels),
against the same-shape GEMM floor (one sgemm of the im2col shape [out, in*9] x [in*9, positions]
forward, plus the two sgemms of its gradients backward: what any im2col kernel must multiply),
and against torchvision.ops.deform_conv2d when torchvision can be imported. "x times F.conv2d"
depends on the CPU: where oneDNN's direct convolution beats the BLAS sgemm (AVX-512 machines:
about 1.8x) no im2col kernel gets near 1.0x, so both ratios are printed, with the CPU model and
its vector extension (torch's and the one deformviz's channel loops run). Every
row of the table is measured for DCNv1 and DCNv2, dilation 1 and 2, at each thread count; the
contenders take turns call by call (interleaved repetitions), and the medians are compared.
Peak memory: the extra resident memory of one forward+backward pass, each contender measured in
a fresh process.

CUDA, when a GPU is visible: ours against cuDNN's conv2d and torchvision, in float32, float16
and bfloat16.

torchvision: PyPI's wheel loads only with the CUDA build of torch (which runs on the CPU). Use
a separate environment with `pip install torch==2.14.1 torchvision==0.29.1`, build deformviz's
operators there (`DEFORMVIZ_CUDA=0 python setup.py build_ext --inplace` in a copy of the
sources, run from that copy), and run this script with that environment's python.

Vector paths: deformviz's CPU channel loops are compiled for baseline x86-64, AVX2 and AVX-512
(deformviz.ops.cpu_vector_path); a second table runs ours on each path the CPU supports, the
paths taking turns call by call, with the gain of each over the baseline.

Usage: python benchmarks/bench_ops.py [--threads 1 2] [--rows res4-38 ...] [--dilations 1 2]
                                      [--repeats 7] [--no-torchvision] [--no-memory]
                                      [--no-vector-paths] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from deformviz.ops import CPU_VECTOR_PATHS, cpu_vector_path, deform_conv2d, operator_backend, \
    set_cpu_vector_path


@dataclass(frozen=True)
class Row:
    """One shape of the issue's table: a 3x3 layer with equal in and out channels."""

    name: str
    batch: int
    channels: int
    height: int
    width: int

    def tensors(self, device: str, dtype: torch.dtype, dilation: int, modulated: bool,
                grad: bool) -> dict:
        generator = torch.Generator().manual_seed(0)

        def make(*shape, scale=1.0):
            t = (torch.randn(*shape, generator=generator) * scale).to(device, dtype)
            return t.requires_grad_(grad)

        size = (self.batch, 18, self.height, self.width)
        return dict(
            input=make(self.batch, self.channels, self.height, self.width),
            # Offsets of a few cells, as trained networks learn them.
            offset=make(*size, scale=2.0),
            mask=(torch.rand(self.batch, 9, self.height, self.width, generator=generator)
                  .to(device, dtype).requires_grad_(grad)) if modulated else None,
            weight=make(self.channels, self.channels, 3, 3, scale=0.02),
            bias=make(self.channels),
            dilation=dilation,
            # The im2col operand of the same shape, for the GEMM floor.
            columns=make(self.channels * 9, self.batch * self.height * self.width),
        )

    @property
    def targets(self) -> tuple[float, float]:
        """(forward, forward+backward) ratio to F.conv2d that the row must stay within."""
        return (2.0, 2.5) if self.channels <= 128 else (1.5, 2.0)


ROWS = [
    Row("res5-14", 8, 512, 14, 14),
    Row("res4-28", 8, 256, 28, 28),
    Row("res4-38", 8, 256, 38, 38),
    Row("res3-56", 8, 128, 56, 56),
    Row("det-s16", 1, 256, 50, 84),   # an 800 x 1333 detection input at stride 16
    Row("det-s32", 1, 512, 25, 42),   # ... and at stride 32
]


def ours(t):
    return deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"],
                         padding=t["dilation"], dilation=t["dilation"], mask=t["mask"])


def conv2d(t):
    return F.conv2d(t["input"], t["weight"], t["bias"], padding=t["dilation"],
                    dilation=t["dilation"])


def gemm_floor(t):
    return torch.mm(t["weight"].reshape(t["weight"].shape[0], -1), t["columns"])


def torchvision_op(t):
    import torchvision

    return torchvision.ops.deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"],
                                         padding=t["dilation"], dilation=t["dilation"],
                                         mask=t["mask"])


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # an ImportError, or a wheel built for another torch failing to load
        return False
    return True


def contenders(with_torchvision: bool = True, with_gemm: bool = True) -> dict:
    found = {"ours": ours, "conv2d": conv2d}
    if with_gemm:
        found["gemm"] = gemm_floor
    if with_torchvision and torchvision_available():
        found["torchvision"] = torchvision_op
    return found


def step(fn, tensors: dict, backward: bool) -> None:
    out = fn(tensors)
    if backward:
        out.backward(torch.ones_like(out))
        for t in tensors.values():
            if isinstance(t, torch.Tensor):
                t.grad = None


def interleaved_medians(fns: dict, tensors: dict, backward: bool, repeats: int,
                        device: str) -> dict:
    """Median seconds per call of each function; the functions take turns, call by call, so
    a slow patch of a noisy machine hits all of them alike."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for fn in fns.values():  # warm-up: lazy initialisation, first allocations
        step(fn, tensors, backward)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            step(fn, tensors, backward)
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def speed_table(rows, threads_list, dilations, repeats: int, with_torchvision: bool) -> None:
    fns = contenders(with_torchvision)
    names = list(fns)
    print("\nSpeed, CPU float32: median ms of interleaved calls; ratios to F.conv2d "
          "(targets: fwd <= 1.5, fwd+bwd <= 2.0; 2.0 and 2.5 at 128 channels) and to the "
          "same-shape GEMM floor (gemm: 1 sgemm forward, 3 forward+backward)")
    head = f"{'row':<8} {'dcn':<3} {'dil':>3} {'thr':>3} {'pass':<7}"
    head += "".join(f"{n + ' ms':>15}" for n in names)
    head += f"{'ours/conv2d':>13}{'target':>8}{'ours/gemm':>11}{'conv2d/gemm':>13}"
    if "torchvision" in fns:
        head += f"{'tv/ours':>9}"
    print(head)
    misses = 0
    for threads in threads_list:
        torch.set_num_threads(threads)
        for row in rows:
            for modulated in (False, True):
                for dilation in dilations:
                    for backward in (False, True):
                        tensors = row.tensors("cpu", torch.float32, dilation, modulated,
                                              grad=backward)
                        med = interleaved_medians(fns, tensors, backward, repeats, "cpu")
                        ratio = med["ours"] / med["conv2d"]
                        target = row.targets[1 if backward else 0]
                        ok = ratio <= target
                        misses += not ok
                        line = (f"{row.name:<8} {'v2' if modulated else 'v1':<3} {dilation:>3} "
                                f"{threads:>3} {'fwd+bwd' if backward else 'fwd':<7}")
                        line += "".join(f"{med[n] * 1e3:>15.2f}" for n in names)
                        line += f"{ratio:>13.2f}{('ok ' if ok else 'MISS') + str(target):>8}"
                        line += f"{med['ours'] / med['gemm']:>11.2f}{med['conv2d'] / med['gemm']:>13.2f}"
                        if "torchvision" in fns:
                            line += f"{med['torchvision'] / med['ours']:>9.2f}"
                        print(line, flush=True)
    print(f"rows over their target: {misses}")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def on_path(name: str):
    """ours, with the CPU channel loops on vector path `name`."""
    def run(t):
        previous = set_cpu_vector_path(name)
        try:
            return ours(t)
        finally:
            set_cpu_vector_path(previous)
    return run


def vector_path_table(rows, threads_list, repeats: int) -> None:
    widest = cpu_vector_path()[1]
    paths = CPU_VECTOR_PATHS[:CPU_VECTOR_PATHS.index(widest) + 1]
    fns = {name: on_path(name) for name in paths}
    print("\nCPU vector paths of ours (dilation 2): median ms of interleaved calls; gain = "
          "baseline ms / path ms; sampling: the forward pass with one output channel (the "
          "channel loops alone)")
    print(f"{'row':<8} {'dcn':<3} {'thr':>3} {'pass':<8}" + "".join(f"{p + ' ms':>14}" for p in paths)
          + "".join(f"{p + ' gain':>13}" for p in paths[1:]))
    for threads in threads_list:
        torch.set_num_threads(threads)
        for row in rows:
            for modulated in (False, True):
                for kind in ("sampling", "fwd", "fwd+bwd"):
                    backward = kind == "fwd+bwd"
                    tensors = row.tensors("cpu", torch.float32, 2, modulated, grad=backward)
                    if kind == "sampling":  # one output channel: the GEMM all but vanishes
                        tensors["weight"], tensors["bias"] = tensors["weight"][:1], tensors["bias"][:1]
                    med = interleaved_medians(fns, tensors, backward, repeats, "cpu")
                    line = f"{row.name:<8} {'v2' if modulated else 'v1':<3} {threads:>3} {kind:<8}"
                    line += "".join(f"{med[p] * 1e3:>14.2f}" for p in paths)
                    line += "".join(f"{med['baseline'] / med[p]:>13.2f}" for p in paths[1:])
                    print(line, flush=True)


def resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_child(contender: str, row_name: str, modulated: bool) -> None:
    """Prints the extra peak resident memory (MiB) of one forward+backward pass."""
    row = next(r for r in ROWS if r.name == row_name)
    fn = {"ours": ours, "conv2d": conv2d, "torchvision": torchvision_op}[contender]
    tensors = row.tensors("cpu", torch.float32, 2, modulated, grad=True)
    # The gradients' own memory counts for every contender alike: allocate them first.
    for t in tensors.values():
        if isinstance(t, torch.Tensor):
            t.grad = torch.zeros_like(t)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    before = resident_kib("VmRSS")
    out = fn(tensors)
    out.backward(torch.ones_like(out))
    print((resident_kib("VmHWM") - before) / 1024)


def memory_table(rows, with_torchvision: bool) -> None:
    names = list(contenders(with_torchvision, with_gemm=False))
    print("\nPeak memory of one forward+backward, CPU float32, dilation 2: extra resident MiB, "
          "each measured in a fresh process (target: ours <= torchvision)")
    print(f"{'row':<8} {'dcn':<3}" + "".join(f"{n + ' MiB':>17}" for n in names))
    for row in rows:
        for modulated in (False, True):
            line = f"{row.name:<8} {'v2' if modulated else 'v1':<3}"
            for name in names:
                result = subprocess.run(
                    [sys.executable, __file__, "--memory-child", name, row.name,
                     "1" if modulated else "0"],
                    capture_output=True, text=True, check=True, env=os.environ.copy())
                line += f"{float(result.stdout.strip().splitlines()[-1]):>17.1f}"
            print(line, flush=True)


def cuda_tables(rows, repeats: int) -> None:
    print(f"\nGPU: {torch.cuda.get_device_name()}, backend {operator_backend('cuda')}")
    fns = {"ours": ours, "cudnn_conv2d": conv2d}
    if torchvision_available():
        fns["torchvision"] = torchvision_op
    names = list(fns)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        print(f"\nCUDA {str(dtype).replace('torch.', '')}: median ms of interleaved calls")
        print(f"{'row':<8} {'dcn':<3} {'pass':<7}" + "".join(f"{n + ' ms':>17}" for n in names)
              + "".join(f"{n + '/ours':>17}" for n in names[1:]))
        for row in rows:
            for modulated in (False, True):
                for backward in (False, True):
                    tensors = row.tensors("cuda", dtype, 2, modulated, grad=backward)
                    med = interleaved_medians(fns, tensors, backward, repeats, "cuda")
                    line = (f"{row.name:<8} {'v2' if modulated else 'v1':<3} "
                            f"{'fwd+bwd' if backward else 'fwd':<7}")
                    line += "".join(f"{med[n] * 1e3:>17.3f}" for n in names)
                    line += "".join(f"{med[n] / med['ours']:>17.2f}" for n in names[1:])
                    print(line, flush=True)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=[r.name for r in ROWS],
                        default=[r.name for r in ROWS], help="rows of the table to measure")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                        help="CPU thread counts to measure at (default: 1 2)")
    parser.add_argument("--dilations", nargs="+", type=int, default=[1, 2],
                        help="dilations to measure at (default: 1 2)")
    parser.add_argument("--repeats", type=int, default=7, help="calls per contender and row")
    parser.add_argument("--no-torchvision", action="store_true",
                        help="leave torchvision out even where it can be imported")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory table")
    parser.add_argument("--no-vector-paths", action="store_true",
                        help="skip the table of ours on each CPU vector path")
    parser.add_argument("--quick", action="store_true",
                        help="one row, the machine's thread count, 3 repeats, no memory table")
    args = parser.parse_args()
    rows = [r for r in ROWS if r.name in args.rows]
    if args.quick:
        rows, args.threads, args.repeats, args.no_memory = rows[:1], [torch.get_num_threads()], 3, True
        args.no_vector_paths = True
    print(f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, backend "
          f"{operator_backend('cpu')}, torchvision "
          f"{'available' if torchvision_available() else 'not importable'}")
    path, widest = cpu_vector_path()
    print(f"CPU: {cpu_model()}; vector extension: torch {torch.backends.cpu.get_cpu_capability()}, "
          f"deformviz CPU loops {path} (widest supported: {widest})")
    with_torchvision = not args.no_torchvision
    speed_table(rows, args.threads, args.dilations, args.repeats, with_torchvision)
    if not args.no_vector_paths:
        vector_path_table(rows, args.threads, args.repeats)
    if not args.no_memory:
        memory_table(rows, with_torchvision)
    if torch.cuda.is_available():
        cuda_tables(rows, args.repeats)
    else:
        print("\nCUDA: no GPU visible, skipped")


if __name__ == "__main__":
    main()
