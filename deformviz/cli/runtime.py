"""What every command that runs the network needs: a device and a network (torch imported
here, at call time, never when the command line starts).

`--model NAME` picks a bundled network; `--model FILE` loads a deformviz export, or any
checkpoint `deformviz.networks.load_network` recognises (mmdetection, detectron2);
`--model-factory pkg.mod:fn [--weights FILE]` builds the user's own module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from deformviz.errors import DeviceError, InputError

__all__ = ["resolve_device", "load_cli_model", "load_cli_network", "NetworkOptions"]


def resolve_device(choice: str) -> str:
    """"auto" -> "cuda" if available else "cpu"; "cuda" without CUDA -> DeviceError. Under
    torchrun with several processes on a machine, "cuda" is the process's own GPU
    (cuda:LOCAL_RANK)."""
    import torch

    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        reason = ("this torch build has no CUDA support" if torch.version.cuda is None
                  else "no CUDA device is visible")
        raise DeviceError(f"--device cuda: CUDA is not available ({reason}); use --device cpu")
    local_rank = os.environ.get("LOCAL_RANK")
    if choice == "cuda" and local_rank is not None and local_rank.isdigit() and \
            int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        if int(local_rank) >= torch.cuda.device_count():
            raise DeviceError(f"local rank {local_rank} has no GPU of its own "
                              f"({torch.cuda.device_count()} visible)")
        choice = f"cuda:{local_rank}"
    return choice


def load_cli_model(spec: str | None, device: str):
    """The model named by `--model`: a registered name, else a weights file path.

    Returns:
        (model in eval mode on `device`, the name to record in results).
    """
    from deformviz.models.registry import DEFAULT_MODEL, MODELS, load_checkpoint, load_model

    name = spec or DEFAULT_MODEL
    if name in MODELS:
        return load_model(name, device), name
    path = Path(name).expanduser()
    if path.is_file():
        try:
            return load_checkpoint(path, device), str(path)
        except Exception as error:  # noqa: BLE001 - torch.load raises many types
            # Bad input (exit 2); torch's own message (pickle opcodes, zip internals) would
            # not help the user, DEFORMVIZ_DEBUG=1 shows it.
            raise InputError(f"--model {path}: not a deformviz weights file (expected one "
                             "written by 'deformviz train' or export_weights)") from error
    if path.suffix or "/" in name or "\\" in name:
        raise InputError(f"--model {name}: no such weights file")
    known = ", ".join(sorted(MODELS)) or "none yet"
    raise InputError(f"unknown model {name!r} (registered: {known}); pass a registered name or "
                     "the path of an exported weights file with --model")


@dataclass(frozen=True)
class NetworkOptions:
    """What the command line says about a user's network (None: the loader decides)."""

    factory: str | None = None
    weights: Path | None = None
    style: str | None = None
    stride_in_1x1: bool | None = None
    short_side: int | None = None
    max_long_side: int | None = None
    weights_from: str | None = None
    dilations: tuple[int, ...] | None = None

    @property
    def given(self) -> list[str]:
        """The options that only a loaded (not bundled) network takes, as typed."""
        names = {"factory": "--model-factory", "weights": "--weights", "style": "--backbone-style",
                 "stride_in_1x1": "--stride-in-1x1", "short_side": "--short-side",
                 "max_long_side": "--max-long-side", "weights_from": "--weights-from",
                 "dilations": "--dilations"}
        return [flag for field, flag in names.items() if getattr(self, field) is not None]


def _is_deformviz_export(path: Path) -> bool:
    """Whether `path` is a weights file written by `deformviz train --export` (a zip holding
    a `config` and a `state_dict`), judged without unpickling anything."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            data = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
            if data is None:
                return False
            head = archive.read(data)[:4096]
    except (OSError, zipfile.BadZipFile):
        return False
    return b"config" in head and b"stage_channels" in head


def load_cli_network(spec: str | None, device: str, options: NetworkOptions = NetworkOptions()):
    """The network `--model` / `--model-factory` name: the bundled detector (a name or a
    deformviz export) or a user's network (`deformviz.networks.LoadedNetwork`).

    Returns:
        (network on `device`, eval mode; the name to record in results).
    """
    if options.factory is not None:
        if spec is not None:
            raise InputError("give either --model or --model-factory, not both")
        from deformviz.networks import load_network

        network = load_network(options.factory, style=options.style,
                               stride_in_1x1=options.stride_in_1x1, weights=options.weights,
                               short_side=options.short_side,
                               max_long_side=options.max_long_side,
                               weights_from=options.weights_from, dilations=options.dilations)
        network.module.to(device)
        return network, options.factory
    path = Path(spec).expanduser() if spec else None
    from deformviz.models.registry import MODELS

    bundled = spec is None or spec in MODELS or (path is not None and path.is_file()
                                                 and _is_deformviz_export(path))
    if bundled or path is None or not path.is_file():
        if options.given and bundled:
            raise InputError(f"{', '.join(options.given)}: only for your own network "
                             "(--model FILE of a checkpoint, or --model-factory)")
        return load_cli_model(spec, device)
    from deformviz.networks import load_network

    network = load_network(path, style=options.style, stride_in_1x1=options.stride_in_1x1,
                           weights=options.weights, short_side=options.short_side,
                           max_long_side=options.max_long_side,
                           weights_from=options.weights_from, dilations=options.dilations)
    network.module.to(device)
    return network, str(path)
