"""The bundled detector's files: a registered name ("lite0-deform-synth", its checksum checked)
or deformviz's own export (`{'config', 'state_dict'}`, written by `deformviz train --export`),
each loaded as a Network (`deformviz.networks.bundled.bundled_network`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deformviz.errors import CheckpointError

from .bundled import bundled_network
from .checkpoint_file import CheckpointContents
from .network import Network

__all__ = ["is_bundled_name", "export_config", "load_bundled", "load_export"]


def is_bundled_name(spec: object) -> bool:
    """Whether `spec` names a bundled network ("lite0-deform-synth", ...)."""
    from deformviz.models.registry import MODELS

    return isinstance(spec, str) and spec in MODELS


def export_config(contents: CheckpointContents) -> Mapping | None:
    """The detector configuration of deformviz's own export (`{'config', 'state_dict'}`)."""
    config = contents.extras.get("config")
    if isinstance(config, Mapping) and "stage_channels" in config:
        return config
    return None


def load_bundled(spec: str, device: str, long_side: int | None) -> Network:
    """The bundled network `spec`, verified against its checksum, on `device`."""
    from deformviz.models import registry  # looked up at call time (tests replace load_model)

    return bundled_network(registry.load_model(spec, device), spec, long_side or 512)


def load_export(path: Path, contents: CheckpointContents, config: Mapping, device: str,
                long_side: int | None) -> Network:
    """The detector an export's `config` and weights describe, on `device`."""
    from deformviz.models.registry import detector_from_export

    try:
        model = detector_from_export(config, contents.state)
    except Exception as error:  # noqa: BLE001 - a config or state that does not fit
        raise CheckpointError(f"{path}: a deformviz export that does not build its network "
                              f"({type(error).__name__})") from error
    return bundled_network(model.to(device), str(path), long_side or 512, "deformviz-export")
