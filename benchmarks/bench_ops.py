"""Speed of deformviz's deform_conv2d, as ratios measured side by side in one run.

CPU: our forward and forward+backward against the pure-PyTorch reference (target: >= 5x faster)
and against F.conv2d of the same shape, the lower bound since the GEMM is the same and only the
sampling is extra (target: forward within 2.5x). CUDA, when a GPU is present: against
torchvision.ops.deform_conv2d (if installed) and cuDNN's conv2d, in float32 and float16.

Usage: python benchmarks/bench_ops.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from deformviz.ops import deform_conv2d, operator_backend, reference


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int
    channels: int
    size: int

    def tensors(self, device: str, dtype: torch.dtype, grad: bool = False):
        generator = torch.Generator().manual_seed(0)

        def make(*shape, scale=1.0):
            t = (torch.randn(*shape, generator=generator) * scale).to(device, dtype)
            return t.requires_grad_(grad)

        # ResNet res4/res5-like: 3x3, dilation 2 (the paper's res5), same in and out channels.
        return dict(
            input=make(self.batch, self.channels, self.size, self.size),
            offset=make(self.batch, 18, self.size, self.size, scale=2.0),
            weight=make(self.channels, self.channels, 3, 3, scale=0.02),
            bias=make(self.channels),
        )


# The res4/res5 shapes are GEMM-dominated: the reference pays for the same GEMM, which bounds the
# ratio against it. The res3 shape has fewer channels per sample, so sampling dominates.
SHAPES = [Shape("res5 14x14", 8, 512, 14), Shape("res4 28x28", 8, 256, 28),
          Shape("res4 38x38", 8, 256, 38), Shape("res3 56x56", 8, 128, 56)]


def ours(t):
    return deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"], padding=2, dilation=2)


def slow_reference(t):
    return reference.deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"], (1, 1),
                                   (2, 2), (2, 2))


def conv2d(t):
    return F.conv2d(t["input"], t["weight"], t["bias"], padding=2, dilation=2)


def torchvision_op(t):
    import torchvision

    return torchvision.ops.deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"],
                                         padding=2, dilation=2)


def seconds(fn, tensors, backward: bool, min_run_time: float) -> float:
    """Median seconds per call of fn (with a backward pass through all inputs if asked)."""

    def step():
        out = fn(tensors)
        if backward:
            out.backward(torch.ones_like(out))
        return out

    step()  # warm-up: allocations, lazy initialisation
    timer = Timer("step()", globals={"step": step}, num_threads=torch.get_num_threads())
    if torch.cuda.is_available() and tensors["input"].is_cuda:
        torch.cuda.synchronize()
    return timer.blocked_autorange(min_run_time=min_run_time).median


def compare(title: str, contenders: dict, shapes, device, dtype, min_run_time):
    print(f"\n{title}  (device={device}, dtype={str(dtype).replace('torch.', '')})")
    names = list(contenders)
    header = f"{'shape':<12} {'pass':<9}" + "".join(f"{n + ' ms':>16}" for n in names)
    header += "".join(f"{n + '/ours':>18}" for n in names[1:])
    print(header)
    for shape in shapes:
        for backward in (False, True):
            times = {}
            for name, fn in contenders.items():
                tensors = shape.tensors(device, dtype, grad=backward)
                times[name] = seconds(fn, tensors, backward, min_run_time)
            row = f"{shape.name:<12} {'fwd+bwd' if backward else 'fwd':<9}"
            row += "".join(f"{times[n] * 1e3:>16.2f}" for n in names)
            row += "".join(f"{times[n] / times[names[0]]:>18.2f}" for n in names[1:])
            print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one shape, short timings")
    args = parser.parse_args()
    shapes = SHAPES[:1] if args.quick else SHAPES
    min_run_time = 0.5 if args.quick else 2.0
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, backend {operator_backend('cpu')}")
    compare("CPU: ours vs pure-PyTorch reference vs F.conv2d (lower bound)",
            {"ours": ours, "reference": slow_reference, "conv2d": conv2d}, shapes, "cpu",
            torch.float32, min_run_time)
    if not torch.cuda.is_available():
        print("\nCUDA: no GPU visible, skipped")
        return
    print(f"\nGPU: {torch.cuda.get_device_name()}, backend {operator_backend('cuda')}")
    contenders = {"ours": ours, "cudnn_conv2d": conv2d}
    try:
        import torchvision  # noqa: F401

        contenders["torchvision"] = torchvision_op
    except ImportError:
        print("torchvision not installed: comparing with cuDNN only")
    for dtype in (torch.float32, torch.float16):
        compare("CUDA: ours vs cuDNN conv2d vs torchvision", contenders, shapes, "cuda", dtype,
                min_run_time)


if __name__ == "__main__":
    main()
