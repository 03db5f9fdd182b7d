"""`deformviz sample`: sampling locations of activation units over images (paper Fig. 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..numbers import parse_numbers
from ..options import (DEFAULT_SCORE, Device, DeviceOpt, DpiOpt, FigureFormat, FormatOpt,
                       ImagesArg, LegendOpt, MaxMegapixelsOpt, ModelOpt, OutputOpt, SaveDataOpt,
                       ScoreOpt, SizeOpt, SvgTextOpt, TitlesOpt, WidthOpt)
from ..network_options import (BackboneStyleOpt, DilationsOpt, GroupOpt, LayersOpt,
                               MaxLongSideOpt, ModelFactoryOpt, ShortSideOpt, Stride1x1Opt,
                               OffsetScaleOpt, WeightsFromOpt, WeightsOpt, check_family_options,
                               parse_group, parse_layers, refuse_given)

SUMMARY = "Sampling locations of units over images (paper Fig. 6)."
EPILOG = """\b
Examples:
  deformviz sample photo.jpg                       # 3 telling units -> photo_sample.png
  deformviz sample photo.jpg --at 120 80 --at 300 200 -o units.pdf
  deformviz sample photo.jpg --levels 1 --grid -o overview.svg
  deformviz sample photos/ -o figures/ -f pdf -w cvpr-text
  deformviz sample photo.jpg --auto 3 --save-data points.json
  deformviz sample photo.jpg --style density -w cvpr-column --title cat --title sofa --title wall
\b
Your own network (see 'deformviz inspect FILE' for its layers):
  deformviz sample photo.jpg --model faster_rcnn_r50_fpn_dconv_c3-c5.pth
  deformviz sample photo.jpg --model model_final.pkl --layers res4f,res5a,res5b --levels 2
  deformviz sample photo.jpg --model-factory mypkg.nets:build --weights best.pth
  deformviz sample photo.jpg --model work_dirs/epoch_12.pth --group all --levels 1
  deformviz sample photo.jpg --model-factory mypkg.nets:fcos_dcn \\
      --layers bbox_head.cls_convs.0.conv@p4,bbox_head.cls_convs.1.conv@p4
\b
Deformable attention (a Hugging Face model folder, pip install "deformviz[transformers]";
or --model-factory building a DETR-family module):
  deformviz sample photo.jpg --model detr-folder/ --auto 3       # top detections' queries
  deformviz sample photo.jpg --model detr-folder/ --auto 1 --split level --min-weight 0.02
  deformviz sample photo.jpg --model detr-folder/ --auto 1 --through-layers
  deformviz sample photo.jpg --model detr-folder/ --layer encoder5 --at 320 200 --level 2
  deformviz sample photo.jpg --model detr-folder/ --query 17 --save-data query17.json
  deformviz sample photo.jpg --model-factory my_dino.py:build --weights dino.pth --query 17
"""


def command(
    images: ImagesArg,
    at: Annotated[Optional[list[str]], typer.Option(
        "--at", metavar="X Y", show_default=False,
        help="A unit at image pixel (x, y) (repeatable); the nearest top-layer cell is used.")] = None,
    auto: Annotated[Optional[int], typer.Option(
        "--auto", metavar="N", min=1, max=12, show_default=False,
        help="Pick N telling units (default 3 when no --at or --grid): from the bundled "
             "network's detections (background, small object, large object, then the other "
             "detections by size, more units on the objects, then background); for other "
             "networks the widest-, tightest- and typically-sampling units, apart from each "
             "other and away from the border.")] = None,
    grid: Annotated[bool, typer.Option(
        "--grid", help="Overview: the 9 top-level points of a regular grid of units.")] = False,
    grid_step: Annotated[int, typer.Option(
        "--grid-step", metavar="CELLS", min=1, max=64,
        help="Cells of the top layer's output map between grid units, 1..64.")] = 6,
    levels: Annotated[Optional[int], typer.Option(
        "--levels", metavar="N", min=1, max=6, show_default=False,
        help="Layers of the chain to descend: 1, 2, 3, ... (9, 81, 729, ... points per unit "
             "for 3x3 kernels); default the whole chain, or 1 with --grid.")] = None,
    layers: LayersOpt = None,
    output: OutputOpt = None,
    fmt: FormatOpt = FigureFormat.png,
    width: WidthOpt = None,
    dpi: DpiOpt = 300.0,
    save_data: SaveDataOpt = None,
    model: ModelOpt = None,
    model_factory: ModelFactoryOpt = None,
    weights: WeightsOpt = None,
    backbone_style: BackboneStyleOpt = None,
    stride_in_1x1: Stride1x1Opt = None,
    short_side: ShortSideOpt = None,
    max_long_side: MaxLongSideOpt = None,
    weights_from: WeightsFromOpt = None,
    dilations: DilationsOpt = None,
    offset_scale: OffsetScaleOpt = None,
    group: GroupOpt = "0",
    device: DeviceOpt = Device.auto,
    size: SizeOpt = 512,
    score_threshold: ScoreOpt = DEFAULT_SCORE,
    titles: TitlesOpt = True,
    legend: LegendOpt = True,
    style: Annotated[str, typer.Option(
        "--style", metavar="points|hull|density",
        help="points: every point; hull: the outline of each level; density: where the "
             "deepest level concentrates.")] = "points",
    title: Annotated[Optional[list[str]], typer.Option(
        "--title", metavar="TEXT", show_default=False,
        help="Panel titles, one per unit in order (repeatable); default: role and position.")] = None,
    svg_text: SvgTextOpt = True,
    max_megapixels: MaxMegapixelsOpt = 100.0,
    query: Annotated[Optional[list[int]], typer.Option(
        "--query", metavar="K", min=0, show_default=False,
        help="Attention models: query K of the attention layer (repeatable).")] = None,
    layer: Annotated[Optional[str], typer.Option(
        "--layer", metavar="NAME", show_default=False,
        help="Attention models: the attention layer (qualified name, suffix, or encoder3 / "
             "decoder5 counted from 0); default the last decoder layer.")] = None,
    level: Annotated[int, typer.Option(
        "--level", metavar="L", min=1, max=8,
        help="Attention models: the pyramid level (1 = finest) whose nearest cell --at "
             "picks in an encoder layer.")] = 1,
    split: Annotated[str, typer.Option(
        "--split", metavar="none|head|level",
        help="Attention models: one panel per query, or per head or level of each.")] = "none",
    min_weight: Annotated[float, typer.Option(
        "--min-weight", metavar="W",
        help="Attention models: hide points whose attention weight is below W (display "
             "only; weights are never renormalised).")] = 0.0,
    through_layers: Annotated[bool, typer.Option(
        "--through-layers",
        help="Attention models: follow the one chosen query through every layer of its "
             "stage (decoder layers 1..N) as small multiples.")] = False,
) -> None:
    """Draw where the deformable layers sample for chosen units: each unit (green) with its
    9, 81 or 729 sampling points through the chain of deformable layers (res5c, res5b, res5a
    by default), over the original image."""
    from deformviz.errors import InputError, UnitError
    from deformviz.plotting.size import parse_width

    from ..batch import plan_jobs, run_jobs, write_outputs
    from ..runtime import NetworkOptions, load_cli_network, resolve_device

    width_in = parse_width(width) if width is not None else None
    units = [parse_numbers(value, 2, "--at", UnitError) for value in at or []]
    # Which flags belong to which family; the network decides once it is loaded.
    conv_only = {"--grid": grid, "--levels": levels, "--layers": layers, "--title": title,
                 "--style": style != "points", "--group": group != "0",
                 "--backbone-style": backbone_style, "--stride-in-1x1": stride_in_1x1,
                 "--weights-from": weights_from, "--dilations": dilations,
                 "--offset-scale": offset_scale}
    attention_only = {"--query": query, "--layer": layer, "--level": level != 1,
                      "--split": split != "none", "--min-weight": min_weight != 0.0,
                      "--through-layers": through_layers}
    from ..attention_sample import AttentionChoice, sample_attention

    choice = AttentionChoice(auto, tuple(query or ()), tuple(units), level, layer,
                             through_layers, split, min_weight)
    folder = model is not None and Path(model).expanduser().is_dir()
    attention_asked = any(value not in (None, False) for value in attention_only.values())
    # What can be told before the (slow) load is told first; the network's family decides
    # once it is loaded (a factory's module may be of either).
    if folder or attention_asked:
        choice.check()
    if folder:  # always an attention network, holding its weights and its image processor
        check_family_options("attention", conv_only, attention_only)
        refuse_given({"--model-factory": model_factory, "--weights": weights,
                      "--size": size != 512, "--short-side": short_side,
                      "--max-long-side": max_long_side},
                     "not for a Hugging Face model folder (it holds its weights, and its own "
                     "image processor decides the input)")
    elif not attention_asked:
        _check_convolution_choices(grid, units, auto, levels, style, title)
    options = NetworkOptions.parse(model_factory, weights, backbone_style, stride_in_1x1,
                                   short_side, max_long_side, weights_from, dilations,
                                   offset_scale)
    model_file = [Path(p) for p in (model, weights) if p and Path(p).is_file()]
    # Outputs checked before the load (an attention network's are named "attention").
    jobs, batch = plan_jobs(images, output, fmt.value, "attention" if folder else "sample",
                            save_data, model_file)
    torch_device = resolve_device(device.value)
    network, model_name = load_cli_network(model, torch_device, options, size)
    check_family_options(network.family, conv_only, attention_only)
    if network.family == "attention":
        raise typer.Exit(sample_attention(
            images, network, choice, output=output, fmt=fmt.value, model_files=model_file,
            width=width_in, dpi=dpi, save_data=save_data, score_threshold=score_threshold,
            titles=titles, legend=legend, svg_text=svg_text,
            max_pixels=int(max_megapixels * 1e6)))
    chain = parse_layers(layers)
    offset_group = parse_group(group)
    if offset_group == "all" and style != "points":
        raise InputError("--group all draws points (one marker per group); --style hull or "
                         "density needs one group")
    levels_used = levels or (1 if grid else None)
    chain_length = network.layers.chain_length(chain)
    if levels is not None and levels > chain_length:  # before any image is run
        raise InputError(f"--levels {levels}: the chain has {chain_length} layers "
                         "(name more with --layers)")

    def work(job) -> list[Path]:
        from deformviz.imaging import load_image
        from deformviz.plotting.output import figure_format, render_figure
        from deformviz.plotting.sampling import plot_sampling
        from deformviz.visualize.export import data_format, encode_data
        from deformviz.visualize.sampling import sample_locations

        image = load_image(job.image, int(max_megapixels * 1e6))
        result = sample_locations(network, image, at=units, auto=auto,
                                  grid_step=grid_step if grid else None, levels=levels_used,
                                  layers=chain, score_threshold=score_threshold,
                                  model_name=model_name, group=offset_group)
        panels = len(result.panels) if result.mode == "units" else 1
        if title and len(title) != panels:
            raise InputError(f"--title given {len(title)} times for {panels} unit(s)")
        figure_width = width_in or (6.875 if panels > 1 else parse_width("cvpr-column"))
        figure = plot_sampling(result, figure_width, titles=titles, legend=legend, style=style,
                               panel_titles=title or None)
        outputs = [(job.figure, render_figure(figure, figure_format(job.figure), dpi,
                                              svg_text))]
        if job.data is not None:
            outputs.append((job.data, encode_data(result, data_format(job.data))))
        return write_outputs(outputs)

    raise typer.Exit(run_jobs(jobs, batch, work, "sample"))


def _check_convolution_choices(grid: bool, units: list, auto: int | None, levels: int | None,
                               style: str, title: list[str] | None) -> None:
    """One-line errors for convolution choices that cannot go together (before loading)."""
    from deformviz.errors import InputError
    from deformviz.plotting.sampling import STYLES

    if grid and (units or auto):
        raise InputError("--grid cannot be combined with --at or --auto")
    if grid and levels not in (None, 1):
        raise InputError("--grid draws the top level only; --levels must be 1 with --grid")
    if style not in STYLES:
        raise InputError(f"--style {style!r}: expected one of {', '.join(STYLES)}")
    if grid and style != "points":
        raise InputError("--grid draws points; --style hull or density needs units")
    if title and grid:
        raise InputError("--title names unit panels; the --grid overview has none")
    expected = len(units) + (auto or (0 if units else 3))
    if title and len(title) != expected:
        raise InputError(f"--title given {len(title)} times for {expected} unit(s)")
