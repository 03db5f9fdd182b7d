"""What every command that runs the network needs: a device and a model (torch imported here,
at call time, never when the command line starts)."""

from __future__ import annotations

from pathlib import Path

from deformviz.errors import DeviceError, InputError

__all__ = ["resolve_device", "load_cli_model"]


def resolve_device(choice: str) -> str:
    """"auto" -> "cuda" if available else "cpu"; "cuda" without CUDA -> DeviceError."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        reason = ("this torch build has no CUDA support" if torch.version.cuda is None
                  else "no CUDA device is visible")
        raise DeviceError(f"--device cuda: CUDA is not available ({reason}); use --device cpu")
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
