"""Options shared by the commands, as `Annotated` aliases (one definition, one help text)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from deformviz.plotting.size import describe_presets

__all__ = ["Device", "FigureFormat", "ImagesArg", "ModelOpt", "DeviceOpt", "OutputOpt",
           "FormatOpt", "WidthOpt", "DpiOpt", "SizeOpt", "ScoreOpt", "DEFAULT_SCORE", "SaveDataOpt",
           "TitlesOpt", "LegendOpt", "SvgTextOpt", "MaxMegapixelsOpt", "finite", "finite_in"]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class FigureFormat(str, Enum):
    png = "png"
    pdf = "pdf"
    svg = "svg"


ImagesArg = Annotated[list[Path], typer.Argument(
    metavar="IMAGE...", show_default=False,
    help="Image files (JPEG, PNG, TIFF, WebP, ...) or folders of them.")]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="NAME|PATH", show_default=False,
    help="A registered model name (see 'deformviz models') or an exported weights file. "
         "Default: the bundled model.")]
DeviceOpt = Annotated[Device, typer.Option(
    "--device", case_sensitive=False, help="Where to run the network; auto picks CUDA if present.")]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", metavar="FILE|FOLDER", show_default=False,
    help="Figure file (.png, .pdf, .svg) for one image; a folder for several images or a "
         "folder input. Default: IMAGE-STEM_COMMAND.FORMAT in the current folder.")]
FormatOpt = Annotated[FigureFormat, typer.Option(
    "--format", "-f", case_sensitive=False,
    help="Figure format when file names are generated (folder output); an -o FILE's "
         "extension wins.")]
WidthOpt = Annotated[Optional[str], typer.Option(
    "--width", "-w", metavar="WIDTH", show_default=False,
    help=f"Physical figure width: 3.25in, 85mm, 8.5cm, 240pt, or a venue preset: "
         f"{describe_presets()}. Default: cvpr-text for several panels, cvpr-column for one.")]
def finite(value: float | None) -> float | None:
    """Option callback: refuse nan and infinities (click's ranges let nan through)."""
    if value is not None and value != value:
        raise typer.BadParameter(f"{value} is not a number")
    return value


def finite_in(low: float, high: float):
    """Option callback: a number, then in low..high (so nan is called not a number, where
    click's own range check would call it too large)."""
    def check(value: float | None) -> float | None:
        finite(value)
        if value is not None and not low <= value <= high:
            raise typer.BadParameter(f"{value:g} is not in the range {low:g}<=x<={high:g}")
        return value
    return check


DpiOpt = Annotated[float, typer.Option(
    "--dpi", metavar="DPI", callback=finite_in(10, 2400),
    help="Resolution of PNG output (pixels per inch), 10..2400.")]


def multiple_of_16(value: int | None) -> int | None:
    """Option callback: image sides must be multiples of the trunk's stride (None passes)."""
    # Any other size would shift the trunk's feature grid (see DeformableDetector.feature_grid).
    if value is not None and value % 16:
        raise typer.BadParameter(f"must be a multiple of 16, got {value}")
    return value


SizeOpt = Annotated[int, typer.Option(
    "--long-side", "--size", metavar="PIXELS", min=32, max=4096, callback=multiple_of_16,
    help="The bundled network's input: the longer image side is resized to this (multiple of "
         "16); results are mapped back to the original image. --size: the old name, kept for "
         "one release.")]
#: --score-threshold's default in sample and explore (explore's copied commands leave it out).
DEFAULT_SCORE = 0.3
ScoreOpt = Annotated[float, typer.Option(
    "--score-threshold", metavar="SCORE", callback=finite_in(0.0, 1.0),
    help="Minimum score of the network's detections (objects for --auto units and roi "
         "boxes), 0..1; lower it to find weaker objects on photos.")]
SaveDataOpt = Annotated[Optional[Path], typer.Option(
    "--save-data", metavar="FILE|FOLDER", show_default=False,
    help="Also write the numbers (.json or .npz) for one image; a folder (JSON files) for "
         "several.")]
TitlesOpt = Annotated[bool, typer.Option("--titles/--no-titles", help="Panel titles.")]
LegendOpt = Annotated[bool, typer.Option("--legend/--no-legend", help="A legend row.")]
SvgTextOpt = Annotated[bool, typer.Option(
    "--svg-text/--svg-outlines",
    help="SVG keeps text as editable text (font DejaVu Sans), or draws glyph outlines.")]
MaxMegapixelsOpt = Annotated[float, typer.Option(
    "--max-megapixels", metavar="MP", callback=finite_in(1.0, 10000.0),
    help="Refuse larger images before decoding them (guards against decompression bombs), "
         "1..10000.")]
