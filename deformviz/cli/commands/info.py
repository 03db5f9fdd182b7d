"""`deformviz info`: versions, the operator backend and the device, for bug reports."""

from __future__ import annotations

from ..options import Device, DeviceOpt

SUMMARY = "Versions, operator backend and device."
EPILOG = """\b
Examples:
  deformviz info
  deformviz info --device cuda
"""


def command(device: DeviceOpt = Device.auto) -> None:
    """Print deformviz, Python, torch, matplotlib and Pillow versions, which operator backend
    runs on the chosen device (compiled CPU/CUDA kernels or the pure-PyTorch reference), and
    the device."""
    import platform
    from importlib.metadata import version

    import torch

    from deformviz import __version__
    from deformviz.ops import operator_backend

    from ..runtime import resolve_device

    chosen = resolve_device(device.value)
    cuda = (f"{torch.version.cuda}, {torch.cuda.device_count()} device(s)"
            if torch.version.cuda and torch.cuda.is_available() else
            f"{torch.version.cuda or 'not built'}, no device visible")
    rows = [
        ("deformviz", __version__),
        ("python", platform.python_version()),
        ("platform", platform.platform()),
        ("torch", torch.__version__),
        ("cuda", cuda),
        ("matplotlib", version("matplotlib")),
        ("pillow", version("pillow")),
        ("numpy", version("numpy")),
        ("typer", version("typer")),
        ("device", chosen + (f" ({torch.cuda.get_device_name()})" if chosen == "cuda" else "")),
        ("operators", operator_backend(chosen)),
        ("threads", str(torch.get_num_threads())),
    ]
    for key, value in rows:
        print(f"{key + ':':<12}{value}")
