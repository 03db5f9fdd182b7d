"""What a training checkpoint holds besides the weights, and which weights to draw.

A checkpoint written during training (mmdetection 3.x / mmengine `epoch_12.pth`, `iter_N.pth`,
`best_*.pth`; mmdetection 2.x `epoch_12.pth`) holds the runner's state next to `state_dict`:
`meta` (epoch, iteration, the config as text), `message_hub`, `optimizer`, `param_schedulers`
and, with an EMA hook, a second copy of the weights. `checkpoint_file` reads all of it as
inert data (or stand-ins); this module says what it found and picks the weights.

EMA copies, and which one mmdetection evaluates with:
- mmengine's `EMAHook` saves `ema_state_dict` ({"steps", "module.<key>": ...}) and, before
  saving, swaps the two: `state_dict` then holds the averaged (EMA) weights, which every later
  test or `load_from` uses, and `ema_state_dict` the model's own.
- mmdetection 2.x's EMA hooks keep the average as buffers `ema_<key with . as _>` of the model
  itself, and swap them into the parameters at the end of each epoch, before the checkpoint
  hook saves: the parameters then hold the average, the `ema_` buffers the model's own. A
  checkpoint saved in the middle of an epoch would hold them the other way round; the weights
  cannot say which, so the choice is stated as an assumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from deformviz.errors import CheckpointError, InputError

__all__ = ["WEIGHTS_FROM", "ChosenWeights", "choose_weights", "training_facts"]

#: `--weights-from`: the averaged copy or the model's own weights.
WEIGHTS_FROM = ("ema", "model")
_EMA_MODULE = "module."
_RUNNER_ENTRIES = ("message_hub", "optimizer", "param_schedulers", "scheduler", "ema_state_dict")


@dataclass(frozen=True)
class ChosenWeights:
    """The state dict to load and what was assumed choosing it.

    Attributes:
        state: {key: tensor}, EMA bookkeeping removed.
        ema: how the file holds an EMA copy ("mmengine EMAHook (ema_state_dict)", ...) or None.
        chosen: "ema" or "model" (what `state` is), with the reason, for `inspect`.
    """

    state: dict[str, Tensor]
    ema: str | None
    chosen: str


def _ema_buffer_name(key: str) -> str:
    """mmdetection 2.x's name of the EMA buffer of parameter `key`."""
    return "ema_" + key.replace(".", "_")


def choose_weights(state: Mapping[str, Tensor], extras: Mapping[str, Any], source: str,
                   weights_from: str | None = None) -> ChosenWeights:
    """Pick the weights to draw from a checkpoint's state dict and other entries.

    Args:
        state: the file's state dict; extras: its other top-level entries.
        weights_from: "ema", "model" or None (what mmdetection evaluates with: the EMA
            average where there is one).
    Raises:
        InputError: an unknown choice; CheckpointError: "ema" asked of a file without one.
    """
    if weights_from is not None and weights_from not in WEIGHTS_FROM:
        raise InputError(f"weights from must be one of {', '.join(WEIGHTS_FROM)}, got "
                         f"{weights_from!r}")
    ema_state = extras.get("ema_state_dict")
    buffers = {key for key in state if key.startswith("ema_")}
    if isinstance(ema_state, Mapping) and any(str(k).startswith(_EMA_MODULE) for k in ema_state):
        ema = "mmengine EMAHook (ema_state_dict)"
        own = {key[len(_EMA_MODULE):]: value for key, value in ema_state.items()
               if isinstance(key, str) and key.startswith(_EMA_MODULE)}
        averaged = dict(state)
        swap = "mmengine's EMAHook swaps the average into state_dict before saving"
    elif _tensor_mapping(extras.get("model_ema")) and set(extras["model_ema"]) == set(state):
        ema = "timm ModelEma (model_ema beside model, as InternImage's training saves)"
        averaged = dict(extras["model_ema"])
        own = dict(state)
        swap = "model_ema is the running average of model"
    elif buffers and any(_ema_buffer_name(key) in buffers for key in state):
        ema = "mmdetection 2.x EMA hook (ema_* buffers)"
        averaged = {key: value for key, value in state.items() if key not in buffers}
        own = {key: state.get(_ema_buffer_name(key), value) for key, value in averaged.items()}
        swap = ("assumed saved at an epoch end, when mmdetection 2.x's EMA hook has swapped "
                "the average into the parameters; the weights do not say")
    else:
        if weights_from == "ema":
            raise CheckpointError(f"{source}: --weights-from ema: the file holds no EMA copy "
                                  "of the weights (no ema_state_dict, model_ema or ema_* keys)")
        return ChosenWeights(dict(state), None, "the file's only weights")
    if weights_from == "model":
        return ChosenWeights(own, ema, f"model (chosen; {swap})")
    origin = "default: what mmdetection evaluates with" if weights_from is None else "chosen"
    return ChosenWeights(averaged, ema, f"ema ({origin}; {swap})")


def _tensor_mapping(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())


def _meta_value(meta: Mapping[str, Any], *names: str) -> Any:
    return next((meta[name] for name in names if name in meta), None)


def training_facts(extras: Mapping[str, Any], config_origin: str | None) -> dict[str, str]:
    """`inspect` lines for what a checkpoint holds besides the weights.

    Args:
        extras: the file's top-level entries other than the state dict.
        config_origin: where a config was found ("embedded, meta['cfg']", "config.yaml beside
            the file") or None.
    Returns:
        {"training state": "epoch 12, iteration 87960" | "none (published weights only)",
         "config": ..., "not read": "message_hub, optimizer, ..." (when present)}.
    """
    meta = extras.get("meta") if isinstance(extras.get("meta"), Mapping) else {}
    epoch = _meta_value(meta, "epoch")
    iteration = _meta_value(meta, "iter", "iteration")
    if iteration is None:
        iteration = extras.get("iteration")  # detectron2's training outputs
    parts = []
    if isinstance(epoch, int):
        parts.append(f"epoch {epoch}")
    if isinstance(iteration, int):
        parts.append(f"iteration {iteration}")
    runner = [name for name in _RUNNER_ENTRIES if name in extras]
    if not parts:
        state = "none recorded" + (" (published weights only)" if not runner else "")
    else:
        state = ", ".join(parts)
    facts = {"training state": state,
             "config": config_origin or "none found (embedded or config.yaml beside the file)"}
    if runner:
        facts["runner entries"] = (", ".join(runner) + " (read as inert data, never run; "
                                   "only the weights are used)")
    return facts
