"""`deformviz explore`: one self-contained web page to find the units worth a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..network_options import (BackboneStyleOpt, DilationsOpt, GroupOpt, LayersOpt,
                               MaxLongSideOpt, ModelFactoryOpt, OffsetScaleOpt, ShortSideOpt,
                               Stride1x1Opt, WeightsFromOpt, WeightsOpt,
                               check_family_options, parse_group, parse_layers)
from ..options import DEFAULT_SCORE, Device, DeviceOpt, ModelOpt, ScoreOpt, SizeOpt

SUMMARY = "One offline HTML page: point at any unit to see its sampling points."
EPILOG = """\b
Examples:
  deformviz explore photo.jpg                      # -> photo_explore.html, open it in a browser
  deformviz explore photo.jpg -o page.html --levels 2
  deformviz explore photo.jpg --model faster_rcnn_r50_fpn_dconv_c3-c5.pth
  deformviz explore photo.jpg --model model_final.pkl --layers res4f,res5a,res5b
  deformviz explore photo.jpg --model work_dirs/epoch_12.pth --weights-from model --group 1
In the page: hover a unit, click to pin it, then 'copy command' gives the
'deformviz sample photo.jpg --at X Y ... --levels N' line that draws the pinned units.
\b
Deformable attention (a Hugging Face model folder, pip install "deformviz[transformers]";
or --model-factory building a DETR-family module):
  deformviz explore photo.jpg --model detr-folder/            # detections + last encoder layer
  deformviz explore photo.jpg --model detr-folder/ --layer encoder3 --encoder-levels 1,2
  deformviz explore photo.jpg --model detr-folder/ --layer decoder2 --score-threshold 0.1
Hover a detection (its decoder query) or, with an encoder level chosen, any cell (its encoder
query); 'copy command' gives 'deformviz sample ... --layer decoder5 --query K' or
'... --layer encoder5 --at X Y --level L'. The page carries every decoder layer of the
detections' queries, and every cell of the chosen levels of ONE encoder layer: the coarsest
levels that fit in 8 MB by default (Deformable DETR at 800 px: levels 2-4, a 9 MB page; the
finest level alone would add about 28 MB; --encoder-levels all carries every level).
"""

from ..runtime import DEFAULT_SIZE  # --long-side's default, left out of the copied command


def command(
    image: Annotated[Path, typer.Argument(metavar="IMAGE", show_default=False,
                                          help="An image file (JPEG, PNG, TIFF, WebP, ...).")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="PAGE.html", show_default=False,
        help="The page (.html). Default: IMAGE-STEM_explore.html in the current folder.")] = None,
    levels: Annotated[Optional[int], typer.Option(
        "--levels", metavar="N", min=1, max=6, show_default=False,
        help="Levels shown when the page opens: 1, 2, 3, ... (9, 81, 729, ... points); default "
             "the whole chain.")] = None,
    max_boxes: Annotated[int, typer.Option(
        "--max-boxes", metavar="N", min=0, max=100,
        help="Most detections shown, with their deformed RoI bins (attention models: distinct "
             "objects, with their decoder queries).")] = 10,
    layers: LayersOpt = None,
    model: ModelOpt = None,
    model_factory: ModelFactoryOpt = None,
    weights: WeightsOpt = None,
    style: BackboneStyleOpt = None,
    stride_in_1x1: Stride1x1Opt = None,
    short_side: ShortSideOpt = None,
    max_long_side: MaxLongSideOpt = None,
    weights_from: WeightsFromOpt = None,
    dilations: DilationsOpt = None,
    offset_scale: OffsetScaleOpt = None,
    group: GroupOpt = "0",
    device: DeviceOpt = Device.auto,
    size: SizeOpt = DEFAULT_SIZE,
    score_threshold: ScoreOpt = DEFAULT_SCORE,
    layer: Annotated[Optional[list[str]], typer.Option(
        "--layer", metavar="NAME", show_default=False,
        help="Attention models: the encoder layer whose cells the page carries (default the "
             "last) and/or the decoder layer it opens with (default the last), as 'sample "
             "--layer' names them (encoder3, decoder5 counted from 0, or qualified names); "
             "repeatable, one of each.")] = None,
    encoder_levels: Annotated[Optional[str], typer.Option(
        "--encoder-levels", metavar="L,...|all", show_default=False,
        help="Attention models: the encoder levels (1 = finest) whose every cell the page "
             "carries; default the coarsest levels that fit in 8 MB of page data.")] = None,
) -> None:
    """Write one HTML page (no server, no network; opens from disk) that shows, for the unit
    under the pointer, its sampling points through the deformable layers over the image, with
    the network's detections and deformed RoI bins; pinned units become a 'deformviz sample'
    command line. For a deformable-attention network: the sampling points and attention
    weights of the query under the pointer (a detection's decoder query, or an encoder cell's)."""
    from deformviz.atomic_files import check_can_create
    from deformviz.errors import InputError
    from deformviz.explore.build import describe_image
    from deformviz.explore.page import check_page_path, render_page
    from deformviz.imaging import load_image
    from deformviz.output_paths import refuse_overwriting, writable_path

    from ..attention_explore import attention_page, parse_encoder_levels
    from ..batch import write_outputs
    from ..runtime import NetworkOptions, load_cli_network, resolve_device, resize_cli_network

    page = output if output is not None else Path(f"{image.stem}_explore.html")
    if page.is_dir():
        page = page / f"{image.stem}_explore.html"
    check_page_path(page)
    # Compared after resolving, before any folder is created.
    refuse_overwriting([("-o", page)], [image, *(Path(p) for p in (model, weights) if p)])
    check_can_create(writable_path(page).parent)  # created only when the page is written
    loaded = load_image(image)  # bad images fail before the network loads
    chain = parse_layers(layers)
    offset_group = parse_group(group)
    carried_levels = parse_encoder_levels(encoder_levels)
    if offset_group == "all":
        raise InputError("--group all: the page follows one offset group; give its number "
                         "('deformviz sample --group all' draws every group)")
    options = NetworkOptions.parse(model_factory, weights, style, stride_in_1x1, short_side,
                                   max_long_side, weights_from, dilations, offset_scale)
    torch_device = resolve_device(device.value)
    network, model_name = load_cli_network(model, torch_device, options)
    check_family_options(network.family,
                         conv_only={"--levels": levels, "--layers": chain, "--group": group != "0",
                                    "--long-side": size != DEFAULT_SIZE},
                         attention_only={"--layer": layer, "--encoder-levels": encoder_levels},
                         attention_takes="its page takes --layer and --encoder-levels")
    arguments = _sample_arguments(
        model=model, model_factory=model_factory, weights=weights, style=options.style,
        stride_in_1x1=stride_in_1x1, short_side=short_side, max_long_side=max_long_side,
        weights_from=options.weights_from, dilations=dilations, offset_scale=offset_scale,
        group=offset_group, layers=chain, size=size)
    if network.family == "attention":
        write_outputs([(page, attention_page(
            network, loaded, image_argument=str(image), command_arguments=arguments,
            layers=layer or (), encoder_levels=carried_levels, score_threshold=score_threshold,
            max_boxes=max_boxes, model_name=model_name))])
        print(page)
        return
    network = resize_cli_network(network, size)
    chain_length = network.layers.chain_length(chain)
    if levels is not None and levels > chain_length:  # as `sample` says it, before the run
        raise InputError(f"--levels {levels}: the chain has {chain_length} layers "
                         "(name more with --layers)")
    data = describe_image(network, loaded, image_argument=str(image),
                          command_arguments=arguments, layers=chain, score_threshold=score_threshold,
                          max_boxes=max_boxes, levels=levels, model_name=model_name,
                          group=offset_group)
    write_outputs([(page, render_page(data))])
    print(page)


def _sample_arguments(*, model, model_factory, weights, style, stride_in_1x1, short_side,
                      max_long_side, weights_from=None, dilations=None, offset_scale=None,
                      group=0, layers,
                      size) -> list[str]:
    """The `deformviz sample` options that select the same network, input and chain (only
    those given: the defaults are the same for both commands)."""
    arguments: list[str] = []
    for flag, value in (("--model", model), ("--model-factory", model_factory),
                        ("--weights", weights), ("--backbone-style", style),
                        ("--short-side", short_side), ("--max-long-side", max_long_side),
                        ("--weights-from", weights_from), ("--dilations", dilations),
                        ("--offset-scale", offset_scale)):
        if value is not None:
            arguments += [flag, str(value)]
    if stride_in_1x1 is not None:
        arguments.append("--stride-in-1x1" if stride_in_1x1 else "--no-stride-in-1x1")
    if layers:
        arguments += ["--layers", ",".join(layers)]
    if group:
        arguments += ["--group", str(group)]
    if size != DEFAULT_SIZE:
        arguments += ["--size", str(size)]  # the old name, which every release reads
    return arguments
