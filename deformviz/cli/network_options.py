"""Options that describe a user's own network (`sample`, `inspect`), as `Annotated` aliases."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["Style", "LayersOpt", "ModelFactoryOpt", "WeightsOpt", "BackboneStyleOpt", "Stride1x1Opt",
           "ShortSideOpt", "MaxLongSideOpt", "parse_layers"]


class Style(str, Enum):
    pytorch = "pytorch"
    caffe = "caffe"


LayersOpt = Annotated[Optional[list[str]], typer.Option(
    "--layers", metavar="NAMES", show_default=False,
    help="The chain of deformable layers to trace, comma-separated or repeated, bottom to top "
         "(qualified names, unique suffixes such as layer4.0.conv2, or res5a/b/c; see "
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
    help="detectron2 ResNets: stride on the first 1x1 (detectron2's STRIDE_IN_1X1, the default "
         "for its models) or on the 3x3.")]
ShortSideOpt = Annotated[Optional[int], typer.Option(
    "--short-side", metavar="PIXELS", min=16, max=8192, show_default=False,
    help="Loaded networks: resize so the shorter image side is this (default 800).")]
MaxLongSideOpt = Annotated[Optional[int], typer.Option(
    "--max-long-side", metavar="PIXELS", min=16, max=8192, show_default=False,
    help="Loaded networks: ... unless the longer side would exceed this (default 1333).")]


def parse_layers(values: list[str] | None) -> list[str] | None:
    """["res5a,res5b", "res5c"] -> ["res5a", "res5b", "res5c"]; None or empty -> None."""
    names = [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
    return names or None
