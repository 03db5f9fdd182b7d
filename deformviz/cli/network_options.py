"""Options that describe a user's own network (`sample`, `inspect`), as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from deformviz.errors import InputError

__all__ = ["OffsetScaleOpt", "Style", "LayersOpt", "ModelFactoryOpt", "WeightsOpt", "BackboneStyleOpt", "Stride1x1Opt",
           "ShortSideOpt", "MaxLongSideOpt", "WeightsFromOpt", "DilationsOpt", "GroupOpt", "parse_layers",
           "parse_dilations", "parse_group", "refuse_given", "check_family_options"]


class Style(str, Enum):
    pytorch = "pytorch"
    caffe = "caffe"


LayersOpt = Annotated[Optional[list[str]], typer.Option(
    "--layers", metavar="NAMES", show_default=False,
    help="The chain of deformable layers to trace, comma-separated or repeated, bottom to top "
         "(qualified names, unique suffixes such as layer4.0.conv2, or res5a/b/c; a head layer "
         "run once per pyramid level with its level, e.g. bbox_head.cls_convs.0.conv@p4; see "
         "'deformviz inspect'). Default: the last three deformable layers.")]
ModelFactoryOpt = Annotated[Optional[str], typer.Option(
    "--model-factory", metavar="PKG.MODULE:FUNCTION", show_default=False,
    help="Build your own network by calling this function (no arguments) from your code; "
         "the probe finds its deformable layers.")]
WeightsOpt = Annotated[Optional[Path], typer.Option(
    "--weights", metavar="FILE", show_default=False,
    help="A state dict to load into the --model-factory network (strictly).")]
BackboneStyleOpt = Annotated[Optional[Style], typer.Option(
    "--backbone-style", case_sensitive=False, show_default=False,
    help="mmdetection ResNets: where block 0 of a stage strides (pytorch: on the 3x3, the "
         "default; caffe: on the first 1x1). Weights cannot tell.")]
Stride1x1Opt = Annotated[Optional[bool], typer.Option(
    "--stride-in-1x1/--no-stride-in-1x1", show_default=False,
    help="detectron2 ResNets: stride on the first 1x1 or on the 3x3. Default: the config's "
         "STRIDE_IN_1X1 (in or beside the file), else the model zoo's convention (R models on "
         "the 1x1, X models on the 3x3).")]
ShortSideOpt = Annotated[Optional[int], typer.Option(
    "--short-side", metavar="PIXELS", min=16, max=8192, show_default=False,
    help="Loaded networks: resize so the shorter image side is this (default 800).")]
MaxLongSideOpt = Annotated[Optional[int], typer.Option(
    "--max-long-side", metavar="PIXELS", min=16, max=8192, show_default=False,
    help="Loaded networks: ... unless the longer side would exceed this (default 1333).")]


class WeightsFrom(str, Enum):
    ema = "ema"
    model = "model"


WeightsFromOpt = Annotated[Optional[WeightsFrom], typer.Option(
    "--weights-from", case_sensitive=False, show_default=False,
    help="Training checkpoints with an EMA copy: draw the averaged weights (ema, the default: "
         "what mmdetection evaluates with) or the model's own (model).")]
DilationsOpt = Annotated[Optional[str], typer.Option(
    "--dilations", metavar="D2,D3,D4,D5", show_default=False,
    help="Checkpoints: dilation of each stage c2..c5, e.g. 1,1,1,2 for a dilated last stage "
         "(DC5), where no config in or beside the file says; a dilated stage does not stride. "
         "Weights cannot tell.")]

OffsetScaleOpt = Annotated[Optional[float], typer.Option(
    "--offset-scale", metavar="S", show_default=False,
    help="InternImage checkpoints: the DCNv3/v4 offset_scale (default: the published config "
         "the keys match, e.g. 2 for InternImage-L/XL, else 1). Weights cannot tell.")]


GroupOpt = Annotated[str, typer.Option(
    "--group", metavar="G|all",
    help="Layers with several offset groups: follow group G (0..G-1) through the chain, or "
         "'all': every group's points in each unit's panel, one marker per group. The figure's "
         "legend and --save-data say which.")]


def parse_group(value: str) -> int | str:
    """"all" -> "all"; "2" -> 2. Raises InputError for anything else."""
    from deformviz.errors import InputError

    text = value.strip().lower()
    if text == "all":
        return "all"
    if not text.isdigit():
        raise InputError(f"--group {value!r}: expected a group number (0, 1, ...) or 'all'")
    return int(text)


def parse_dilations(value: str | None) -> tuple[int, ...] | None:
    """"1,1,1,2" -> (1, 1, 1, 2); None -> None. Raises InputError for anything else."""
    if value is None:
        return None
    from deformviz.errors import InputError

    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 4 or not all(part.isdigit() and 1 <= int(part) <= 8 for part in parts):
        raise InputError(f"--dilations {value!r}: expected four whole numbers in 1..8 "
                         "(c2..c5), e.g. 1,1,1,2")
    return tuple(int(part) for part in parts)


def parse_layers(values: list[str] | None) -> list[str] | None:
    """["res5a,res5b", "res5c"] -> ["res5a", "res5b", "res5c"]; None or empty -> None."""
    names = [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
    return names or None


def refuse_given(flags: Mapping[str, object], why: str) -> None:
    """A one-line InputError naming every given flag of `flags` ("--flag": value; None or False
    is a flag not given), followed by `why`; nothing when none is given."""
    given = [flag for flag, value in flags.items() if value not in (None, False)]
    if given:
        raise InputError(f"{', '.join(given)}: {why}")


def check_family_options(family: str, conv_only: Mapping[str, object],
                         attention_only: Mapping[str, object], attention_takes: str = "") -> None:
    """The options a loaded network's family (`Network.family`) does not take, refused in one
    line, in the same words in every command; `attention_takes` names what the command takes
    instead for an attention network."""
    if family == "attention":
        refuse_given(conv_only, "not for a deformable-attention network"
                     + (f" ({attention_takes})" if attention_takes else ""))
    else:
        refuse_given(attention_only, "only for deformable-attention networks (a Hugging Face "
                                     "model folder, or a --model-factory module with such "
                                     "attention)")
