"""What every command that runs the network needs: a device and a network (torch imported
here, at call time, never when the command line starts).

`--model NAME` picks a bundled network; `--model FILE` loads a deformviz export, or any
checkpoint (mmdetection, detectron2); `--model-factory pkg.mod:fn [--weights FILE]` builds the
user's own module. Which is which is decided by `deformviz.networks.load_network`; this module
only turns options into its arguments and its errors into the options' words."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deformviz.errors import DeviceError, InputError

__all__ = ["resolve_device", "load_cli_model", "load_cli_network", "resize_cli_network",
           "NetworkOptions", "DEFAULT_SIZE"]

#: `--long-side` (old name `--size`): the bundled network's default resize (pixels of the longer side).
DEFAULT_SIZE = 512


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
    """The network named by `--model` alone: a registered name, else a weights file path.

    Returns:
        (network, `deformviz.networks.Network`, eval mode on `device`; the name to record in
        results).
    """
    from deformviz.models.registry import DEFAULT_MODEL, MODELS
    from deformviz.networks import load_network

    name = spec or DEFAULT_MODEL
    if name in MODELS:
        return load_network(name, device=device), name
    path = Path(name).expanduser()
    if path.is_file() or path.is_dir():  # a weights file, or a Hugging Face model folder
        return load_network(path, device=device), str(path)
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
    offset_scale: float | None = None

    @classmethod
    def parse(cls, factory: str | None = None, weights: Path | None = None, style: Any = None,
              stride_in_1x1: bool | None = None, short_side: int | None = None,
              max_long_side: int | None = None, weights_from: Any = None,
              dilations: str | None = None, offset_scale: float | None = None) -> NetworkOptions:
        """The options as Typer hands them over (choices as enums, `--dilations` as text)."""
        from .network_options import parse_dilations

        return cls(factory, weights, None if style is None else style.value, stride_in_1x1,
                   short_side, max_long_side, None if weights_from is None else weights_from.value,
                   parse_dilations(dilations), offset_scale)

    @property
    def given(self) -> list[str]:
        """The options that only a loaded (not bundled) network takes, as typed."""
        return [flag for field, flag in _FLAGS.items() if getattr(self, field) is not None]

    def loader_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `deformviz.networks.load_network` these options set."""
        return {"style": self.style, "stride_in_1x1": self.stride_in_1x1,
                "weights": self.weights, "short_side": self.short_side,
                "max_long_side": self.max_long_side, "weights_from": self.weights_from,
                "dilations": self.dilations, "offset_scale": self.offset_scale}


_FLAGS = {"factory": "--model-factory", "weights": "--weights", "style": "--backbone-style",
          "stride_in_1x1": "--stride-in-1x1", "short_side": "--short-side",
          "max_long_side": "--max-long-side", "weights_from": "--weights-from",
          "dilations": "--dilations", "offset_scale": "--offset-scale"}


def load_cli_network(spec: str | None, device: str, options: NetworkOptions = NetworkOptions(),
                     size: int = DEFAULT_SIZE):
    """The network `--model` / `--model-factory` name, resized as `--long-side` or `--short-side` /
    `--max-long-side` say.

    Returns:
        (network on `device`, eval mode; the name to record in results).
    """
    from deformviz.models.registry import DEFAULT_MODEL
    from deformviz.networks import NetworkOptionError, load_network

    if options.factory is not None and spec is not None:
        raise InputError("give either --model or --model-factory, not both")
    try:
        if options.given:
            target: str | Path = options.factory or spec or DEFAULT_MODEL
            if options.factory is None and Path(target).expanduser().exists():
                target = Path(target).expanduser()
            network = load_network(target, device=device, **options.loader_arguments())
            name = network.source
        else:
            network, name = load_cli_model(spec, device)
    except NetworkOptionError as error:
        if spec is not None and Path(spec).expanduser().is_dir():
            raise InputError(f"{', '.join(options.given)}: not for a Hugging Face model folder "
                             "(it holds its weights, and its own image processor decides the "
                             "input)") from error
        raise InputError(f"{', '.join(options.given)}: only for your own network "
                         "(--model FILE of a checkpoint, or --model-factory)") from error
    return resize_cli_network(network, size), name


def resize_cli_network(network, size: int = DEFAULT_SIZE):
    """`network` resized as `--long-side` (`--size`) says (DEFAULT_SIZE: as it is)."""
    from deformviz.networks import NetworkOptionError, with_resize

    if size == DEFAULT_SIZE:
        return network
    try:
        return with_resize(network, long_side=size)
    except NetworkOptionError as error:
        raise InputError("--long-side/--size resizes for the bundled network; for your own "
                         "network use --short-side / --max-long-side") from error
