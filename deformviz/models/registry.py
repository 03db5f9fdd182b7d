"""Bundled models by name: where their weights are, how to check them, what they are."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .detector import DeformableDetector, DetectorConfig

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelEntry:
    """A bundled model: its weights file (inside the package), checksum and one-line card."""

    name: str
    weights: str
    sha256: str
    summary: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.weights


MODELS: dict[str, ModelEntry] = {}
DEFAULT_MODEL = "lite0-deform-synth"


def register(entry: ModelEntry) -> None:
    MODELS[entry.name] = entry


# Checksums as printed by `deformviz train ... --export` (see docs/MODEL_CARD.md).
register(ModelEntry(
    "lite0-deform-synth", "lite0-deform-synth.pt",
    "a0b170ef50fe90c80f4dcca31a7ce0d7bc2a999c02f556e1fbf55812205869e2",
    "EfficientNet-Lite0 (ImageNet, frozen) + res5a-c deformable 3x3 stage + CenterNet and "
    "deformable RoI heads, trained on generated shape scenes (docs/MODEL_CARD.md)"))
register(ModelEntry(
    "lite0-plain-synth", "lite0-plain-synth.pt",
    "df22d1eeee1be90f0cc84d05d1f65e10d0b4b44caf23b5529cf87f767833dfad",
    "the same network trained the same way with offsets frozen at zero and plain RoI pooling: "
    "the twin for comparisons"))


class ModelLoadError(RuntimeError):
    """A bundled model is unknown, missing or corrupt."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device = "cpu"
               ) -> DeformableDetector:
    """The bundled model `name`, verified against its checksum, in eval mode on `device`.

    Weights are read offline from the package with weights_only=True; half-precision storage
    is converted to float32.
    """
    if name not in MODELS:
        known = ", ".join(sorted(MODELS)) or "none"
        raise ModelLoadError(f"unknown model {name!r} (bundled: {known})")
    entry = MODELS[name]
    if not entry.path.is_file():
        raise ModelLoadError(f"weights of {name!r} are missing: {entry.path}")
    if sha256_of(entry.path) != entry.sha256:
        raise ModelLoadError(f"weights of {name!r} fail their checksum: {entry.path}")
    return load_export(entry.path, device)


def detector_from_export(config: dict, state: dict) -> DeformableDetector:
    """The detector an export describes (its `config` and `state_dict`), in eval mode on the
    CPU, float16 storage widened to float32."""
    model = DeformableDetector(DetectorConfig.from_dict(dict(config)))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def load_export(path: Path, device: str | torch.device = "cpu") -> DeformableDetector:
    """A DeformableDetector from a file `export_weights` wrote (config + state dict); see also
    `deformviz.networks.load_network`, which takes any network file."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return detector_from_export(saved["config"], saved["state_dict"]).to(device)


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> DeformableDetector:
    """Deprecated (one release): `load_export` (it reads deformviz's exports only)."""
    warnings.warn("load_checkpoint is deprecated: use load_export, or "
                  "deformviz.networks.load_network for any network file", DeprecationWarning,
                  stacklevel=2)
    return load_export(path, device)


def export_weights(model: DeformableDetector, path: Path) -> str:
    """Writes config + float16 state dict to `path` atomically; returns its sha256."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(dict(config=model.config.to_dict(), state_dict=state), tmp)
    tmp.replace(path)
    return sha256_of(path)
