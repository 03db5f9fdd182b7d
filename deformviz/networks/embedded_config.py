"""The training config that came with a checkpoint, read as text (never executed).

Where it is: mmdetection 2.x saves its config as text in `meta["config"]`, mmengine
(mmdetection 3.x) in `meta["cfg"]`; detectron2 writes none into the file, but its runs leave
the `config.yaml` they trained with next to `model_final.pth`. Only the few backbone settings
the weights cannot prove are read from it:

- mmdetection (Python text): inside `backbone=dict(...)`: `type` (ResNet, ResNetV1d, ...),
  `style`, `strides`, `dilations`, `deep_stem`, `avg_down`, `norm_cfg=dict(type=..,
  num_groups=..)`.
- detectron2 (YAML): `MODEL.RESNETS.STRIDE_IN_1X1`, `NUM_GROUPS`, `NORM`, `RES5_DILATION`,
  `MODEL.PIXEL_MEAN`, `MODEL.PIXEL_STD`, `INPUT.FORMAT`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FoundConfig", "find_config", "mmdetection_backbone", "detectron2_settings",
           "read_simple_yaml"]

#: Beside a detectron2 checkpoint: the config its run was trained with.
CONFIG_BESIDE = "config.yaml"


@dataclass(frozen=True)
class FoundConfig:
    """A config's text and where it was found ("embedded, meta['cfg']", ...)."""

    text: str
    origin: str


def find_config(extras: Mapping[str, Any], path: Path | None) -> FoundConfig | None:
    """The config embedded in a checkpoint's entries, else `config.yaml` beside `path`."""
    meta = extras.get("meta")
    for holder, label in ((meta, "meta"), (extras, None)):
        if not isinstance(holder, Mapping):
            continue
        for name in ("cfg", "config"):
            text = holder.get(name)
            if isinstance(text, str) and text.strip():
                where = f"{label}[{name!r}]" if label else repr(name)
                return FoundConfig(text, f"embedded, {where}")
    if path is not None:
        beside = path.parent / CONFIG_BESIDE
        if beside.is_file():
            try:
                return FoundConfig(beside.read_text(encoding="utf-8", errors="replace"),
                                   f"{beside} beside the file")
            except OSError:
                return None
    return None


def _call_arguments(text: str, opening: str) -> str | None:
    """The text inside the parentheses that `opening` (e.g. "backbone=dict(") begins."""
    start = re.search(re.escape(opening).replace(r"=", r"\s*=\s*"), text)
    if start is None:
        return None
    depth, begin = 1, start.end()
    for index in range(begin, len(text)):
        if text[index] in "([{":
            depth += 1
        elif text[index] in ")]}":
            depth -= 1
            if depth == 0:
                return text[begin:index]
    return None


def _literal_eval_upto_comma(text: str) -> Any:
    """The Python literal at the start of `text`, up to its first top-level comma, or None."""
    depth = 0
    for end, char in enumerate(text + ","):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if depth < 0 or (depth == 0 and char == ","):
            try:
                return ast.literal_eval(text[:end].strip())
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
    return None


def _literal(text: str, name: str) -> Any:
    """The value of `name=<literal>` at the top level of call arguments `text`, or None."""
    depth, index = 0, 0
    pattern = re.compile(rf"\b{name}\s*=\s*")
    while index < len(text):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and (match := pattern.match(text, index)) and (
                index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")):
            return _literal_eval_upto_comma(text[match.end():])
        index += 1
    return None


def mmdetection_backbone(text: str) -> dict[str, Any]:
    """Backbone settings of an mmdetection config text: {"type", "style", "strides",
    "dilations", "deep_stem", "avg_down", "norm_type", "norm_groups", "dcn_type",
    "deform_groups"}; absent ones left out."""
    backbone = _call_arguments(text, "backbone=dict(")
    if backbone is None:
        return {}
    found: dict[str, Any] = {}
    for name in ("type", "style", "strides", "dilations", "deep_stem", "avg_down"):
        value = _literal(backbone, name)
        if value is not None:
            found[name] = value
    norm = _call_arguments(backbone, "norm_cfg=dict(")
    if norm is not None:
        for name, key in (("type", "norm_type"), ("num_groups", "norm_groups")):
            value = _literal(norm, name)
            if value is not None:
                found[key] = value
    dcn = _call_arguments(backbone, "dcn=dict(")
    if dcn is not None:  # mmcv's DCN is DCNv1, DCNv2 modulated; deform_groups its G
        for name, key in (("type", "dcn_type"), ("deform_groups", "deform_groups")):
            value = _literal(dcn, name)
            if value is not None:
                found[key] = value
    return found


def _scalar(text: str) -> Any:
    text = text.strip()
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("null", "~", ""):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")


def read_simple_yaml(text: str) -> dict[str, Any]:
    """The nested mappings of a block-style YAML file as {"A.B.C": value} (detectron2's
    `config.yaml` as `cfg.dump()` writes it): scalars, `[a, b]` lists and `- item` lists."""
    flat: dict[str, Any] = {}
    path: list[tuple[int, str]] = []
    last: str | None = None
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if body.startswith("- ") and last is not None:
            value = flat.get(last)
            flat[last] = (value if isinstance(value, list) else []) + [_scalar(body[2:])]
            continue
        key, colon, value = body.partition(":")
        if not colon:
            continue
        while path and path[-1][0] >= indent:
            path.pop()
        full = ".".join([p for _, p in path] + [key.strip()])
        if value.strip():
            flat[full] = _scalar(value)
            last = full
        else:
            path.append((indent, key.strip()))
            flat.pop(full, None)
            last = full
    return flat


def detectron2_settings(text: str) -> dict[str, Any]:
    """detectron2 settings of a YAML config: {"stride_in_1x1", "num_groups", "norm",
    "res5_dilation", "pixel_mean", "pixel_std", "input_format"}; absent ones left out."""
    flat = read_simple_yaml(text)
    names = {"MODEL.RESNETS.STRIDE_IN_1X1": "stride_in_1x1",
             "MODEL.RESNETS.NUM_GROUPS": "num_groups", "MODEL.RESNETS.NORM": "norm",
             "MODEL.RESNETS.RES5_DILATION": "res5_dilation", "MODEL.PIXEL_MEAN": "pixel_mean",
             "MODEL.PIXEL_STD": "pixel_std", "INPUT.FORMAT": "input_format"}
    return {name: flat[key] for key, name in names.items() if key in flat}
