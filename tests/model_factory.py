"""A deterministic stand-in for the trained network, for tests, baselines and benchmarks.

The ImageNet trunk (shipped) plus a randomly initialised stage and heads, with small seeded
offset-branch weights so that the offsets, and so the figures, are non-trivial. It detects
nothing meaningful, but every number it produces is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import torch

from deformviz.models.detector import DeformableDetector
from deformviz.models.efficientnet_lite import load_imagenet_trunk
from deformviz.models.registry import export_weights, load_export

SEED = 1234


def build_test_model(seed: int = SEED) -> DeformableDetector:
    """The deterministic test detector (float32, CPU, eval mode)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DeformableDetector()
        generator = torch.Generator().manual_seed(seed)

        def small(tensor: torch.Tensor, std: float) -> None:
            with torch.no_grad():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)

        for layer in model.stage.layers:
            fan_in = layer.conv_offset.weight[0].numel()
            small(layer.conv_offset.weight, 1.0 / fan_in ** 0.5)
            small(layer.conv_offset.bias, 0.5)
        last = model.roi_head.pool.offset_fc[-1]
        small(last.weight, 0.5 / last.weight.shape[1] ** 0.5)
        small(last.bias, 0.3)
    model.trunk.load_state_dict(load_imagenet_trunk().state_dict())
    return model.eval()


def export_test_model(path: Path, seed: int = SEED) -> Path:
    """Write the test detector as an exported weights file (what `--model PATH` loads)."""
    export_weights(build_test_model(seed), Path(path))
    return Path(path)


def load_test_model(path: Path) -> DeformableDetector:
    """The exported test detector as the command line loads it (float16-rounded weights)."""
    return load_export(Path(path))


_SHARED: dict[str, Path] = {}


def shared_test_model_path() -> Path:
    """One exported test model per test process (in a temporary folder removed at exit)."""
    if "path" not in _SHARED:
        import atexit
        import shutil
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="deformviz-test-model-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SHARED["path"] = export_test_model(folder / "test-model.pt")
    return _SHARED["path"]
