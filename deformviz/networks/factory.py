"""Networks from the user's own code: `--model-factory package.module:function [--weights FILE]`.

The factory is the user's own Python, imported and called on purpose (it may build anything,
for example a backbone with `torchvision.ops.DeformConv2d`). The weights file is data and is
read like every checkpoint, without running code (`torch.load(weights_only=True)` or the
numpy-only unpickler), then loaded strictly into the module the factory returned.

The factory takes no arguments and returns an `nn.Module`, or `(module, Preprocessing)` to
say how images must be prepared. Without one, the preprocessing is torchvision's ImageNet
convention (`IMAGENET_RGB`: RGB, mean [123.675, 116.28, 103.53], std [58.395, 57.12, 57.375]),
shorter side 800 (longer at most 1333), padded to a multiple of 32: a documented choice that
the factory's return value, or `short_side` / `max_long_side`, overrides.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

from torch import nn

from deformviz.errors import CheckpointError, InputError

from .checkpoint_file import read_checkpoint
from .detr_outputs import DetrOutputsHead, class_names_of
from .layer_family import find_layers
from .loaded_network import LoadedNetwork
from .preprocessing import IMAGENET_RGB, Preprocessing

__all__ = ["load_factory", "is_factory_spec"]

_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*|.+\.py):(?P<function>[A-Za-z_]\w*)$")

def is_factory_spec(spec: str) -> bool:
    """True for "package.module:function" or "path/to/file.py:function"."""
    return bool(_SPEC.match(spec))


def _import_function(spec: str):
    match = _SPEC.match(spec)
    if match is None:
        raise InputError(f"model factory must be package.module:function or file.py:function, "
                         f"got {spec!r}")
    module_name, function_name = match.group("module"), match.group("function")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise InputError(f"model factory {spec}: {path}: no such file")
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader_spec)  # type: ignore[arg-type]
            sys.modules.setdefault(path.stem, module)
            loader_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(module_name)
    except InputError:
        raise
    except ModuleNotFoundError as error:
        raise InputError(f"model factory {spec}: cannot import {module_name} ({error}); is it "
                         "on PYTHONPATH?") from error
    except Exception as error:  # the user's module failed while importing: say how
        raise InputError(f"model factory {spec}: importing {module_name} failed: "
                         f"{type(error).__name__}: {error}") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise InputError(f"model factory {spec}: {module_name} has no function {function_name}")
    return function


def _load_weights(module: nn.Module, weights: Path) -> None:
    state = read_checkpoint(weights).state
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"{len(result.missing_keys)} missing (first {result.missing_keys[0]})")
    if result.unexpected_keys:
        problems.append(f"{len(result.unexpected_keys)} unused (first {result.unexpected_keys[0]})")
    if problems:
        raise CheckpointError(f"{weights}: does not fit the factory's module: keys "
                              + "; ".join(problems))


def load_factory(spec: str, *, weights: str | Path | None = None,
                 preprocessing: Preprocessing | None = None, short_side: int | None = None,
                 max_long_side: int | None = None) -> LoadedNetwork:
    """Build the user's network by calling their factory, and load its weights strictly.

    Args:
        spec: "package.module:function" (importable) or "file.py:function".
        weights: a state dict file for the module (optional; the factory may load its own).
        preprocessing: overrides the factory's and the default (`IMAGENET_RGB`).
        short_side, max_long_side: override the resize of the preprocessing.
    Raises:
        InputError: the factory cannot be imported or called or returns no module.
        CheckpointError: the weights file is unusable or does not fit the module.
    """
    function = _import_function(spec)
    try:
        made = function()
    except Exception as error:
        raise InputError(f"model factory {spec} failed: {type(error).__name__}: {error}") from error
    chosen = "the factory's"
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], Preprocessing):
        made, factory_preprocessing = made
    else:
        factory_preprocessing, chosen = IMAGENET_RGB, "torchvision's ImageNet default"
    if not isinstance(made, nn.Module):
        raise InputError(f"model factory {spec} returned a value of type {type(made).__name__}, not a "
                         "torch.nn.Module")
    if preprocessing is not None:
        factory_preprocessing, chosen = preprocessing, "given"
    if short_side is not None or max_long_side is not None:
        p = factory_preprocessing
        factory_preprocessing = Preprocessing(
            p.channel_order, p.mean, p.std, short_side if short_side is not None else p.short_side,
            max_long_side if max_long_side is not None else p.max_long_side, p.size_divisor)
    if weights is not None:
        _load_weights(made, Path(weights))
    made.eval()
    found = find_layers(made)
    layers = found.names
    kinds = sorted({type(module).__name__ for name, module in made.named_modules() if name in layers})
    what = "deformable layers" if found.family == "convolution" else "deformable attention layers"
    architecture = (f"{type(made).__name__} from {spec}, {len(layers)} {what} "
                    f"({', '.join(kinds) or 'none of a known kind'})")
    details = {"format": "factory", "factory": spec,
               "weights": str(weights) if weights is not None else "as the factory built it",
               "architecture": architecture,
               what: (f"{len(layers)}, default {', '.join(found.default_chain)}"
                      if layers else "none of a known kind found (register an adapter: "
                      "deformviz.probe.register_layer_adapter)"),
               **{name: type(module).__name__ for name, module in made.named_modules() if name in layers},
               "preprocessing": f"{factory_preprocessing.describe()} ({chosen})"}
    if found.unprobed:
        details["attention layers"] = (f"{len(found.unprobed)}, not probed: the deformable "
                                       "convolutions are")
    head = DetrOutputsHead(class_names_of(made)) if found.family == "attention" else None
    return LoadedNetwork(made, factory_preprocessing, "factory", architecture, layers,
                         found.default_chain, spec, details, detection_head=head,
                         family=found.family)
