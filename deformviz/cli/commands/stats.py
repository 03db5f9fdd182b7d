"""`deformviz stats`: the paper's Table 2 over a folder of images with COCO annotations."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..network_options import (BackboneStyleOpt, DilationsOpt, LayersOpt, MaxLongSideOpt,
                               ModelFactoryOpt, OffsetScaleOpt, ShortSideOpt, Stride1x1Opt,
                               WeightsFromOpt, WeightsOpt, check_family_options, parse_layers)
from ..options import Device, DeviceOpt, DpiOpt, ModelOpt, SizeOpt, WidthOpt, finite_in

SUMMARY = "The paper's Table 2 (effective dilation by object size) over your annotated images."
EPILOG = """\b
Examples:
  deformviz stats val2017/ --annotations instances_val2017.json -o table.json
  deformviz stats val2017/ -a instances_val2017.json --limit 50 --figure table2.pdf
  deformviz stats val2017/ -a instances_val2017.json --thresholds paper --objects mask
  deformviz stats val2017/ -a instances_val2017.json --shard 3/8 -o part3.json
  deformviz stats --merge part1.json part2.json ... part8.json -o table.json
\b
Your own network (every network 'sample' takes; 'deformviz inspect FILE' lists its layers):
  deformviz stats val2017/ -a instances_val2017.json --model faster_rcnn_r50_fpn_dconv_c3-c5.pth
  deformviz stats val2017/ -a instances_val2017.json --model model_final.pkl --layers res4f,res5a,res5b
  deformviz stats val2017/ -a instances_val2017.json --model work_dirs/epoch_12.pth --weights-from model
  deformviz stats val2017/ -a instances_val2017.json --model-factory pkg.nets:fcos_dcn \
      --layers bbox_head.cls_convs.0.conv@p4,bbox_head.cls_convs.1.conv@p4
\b
Deformable attention (a Hugging Face model folder; pip install "deformviz[transformers]"):
  deformviz stats val2017/ -a instances_val2017.json --model deformable-detr/ -o attention.json
  deformviz stats val2017/ -a instances_val2017.json --model deformable-detr/ \
      --layers encoder5,decoder0,decoder5 --score-threshold 0.5 --objects mask
Per size class: the attention-weighted mean distance of the sampling points from the
reference point (px, and / sqrt(object area)) and the weight inside the object, over the
decoder queries whose detection matched an object (IoU >= --match-iou, best score first, one
query per object, crowd regions never) and over the encoder queries (cells) by what they sit on.
\b
A run saves its state to OUTPUT.partial.json every --checkpoint-every images and on Ctrl-C;
the same command again continues where it stopped (--restart starts over).
\b
On several processes, GPUs or machines (torch.distributed; the same table, byte for byte):
  torchrun --nproc_per_node 4 -m deformviz stats val2017/ -a instances_val2017.json -o table.json
Rank 0 writes the outputs and the state; a stopped run resumes on any number of processes.
"""


class Containment(str, Enum):
    box = "box"
    mask = "mask"


def command(
    inputs: Annotated[list[Path], typer.Argument(
        metavar="IMAGES | PART.json...", show_default=False,
        help="The image folder (file_name in the annotations is relative to it); with --merge, "
             "the results of the shards.")],
    annotations: Annotated[Optional[Path], typer.Option(
        "--annotations", "-a", metavar="FILE", show_default=False, help="COCO-format annotation file (instances JSON).")] = None,
    merge: Annotated[bool, typer.Option(
        "--merge", help="Combine shard results (the arguments) into one table.")] = False,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="Result JSON [default: stats.json, or stats.shard-I-of-N.json with --shard].")] = None,
    figure: Annotated[Optional[Path], typer.Option(
        "--figure", metavar="FILE", show_default=False,
        help="Also draw the table: effective dilation per size class and layer with its spread, "
             "and the in-object share (.png, .pdf, .svg).")] = None,
    width: WidthOpt = None,
    dpi: DpiOpt = 300.0,
    thresholds: Annotated[str, typer.Option(
        "--thresholds", metavar="coco|paper|S,L",
        help="Size classes by object area: coco (small < 32², large > 96²), paper (96², 224²), "
             "or two sides in pixels.")] = "coco",
    objects: Annotated[Containment, typer.Option(
        "--objects", case_sensitive=False,
        help="box: a unit is on an object when its centre is in the box, sized by box area (the "
             "paper's grouping); mask: in the mask where annotated, sized by the annotation's "
             "area (COCO's convention).")] = Containment.box,
    model: ModelOpt = None,
    layers: LayersOpt = None,
    model_factory: ModelFactoryOpt = None,
    weights: WeightsOpt = None,
    style: BackboneStyleOpt = None,
    stride_in_1x1: Stride1x1Opt = None,
    short_side: ShortSideOpt = None,
    max_long_side: MaxLongSideOpt = None,
    weights_from: WeightsFromOpt = None,
    dilations: DilationsOpt = None,
    offset_scale: OffsetScaleOpt = None,
    size: SizeOpt = 512,
    device: DeviceOpt = Device.auto,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", metavar="N", min=1, show_default=False, help="Only the first N images (a quick look).")] = None,
    shard: Annotated[Optional[str], typer.Option(
        "--shard", metavar="I/N", show_default=False,
        help="Run only shard I of N (every N-th image by id); merge the parts with --merge.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", metavar="N", min=0, max=64, help="Processes decoding and preparing images.")] = 2,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", metavar="N", min=1, max=256,
        help="Images through the network at once (for GPUs), padded at the bottom and right as "
             "the network's own batching pads them. Units, classes and counts are those of one "
             "image at a time; effective dilations move where the padding reaches the "
             "network's activations (1: no padding, the default).")] = 1,
    checkpoint_every: Annotated[int, typer.Option(
        "--checkpoint-every", metavar="N", min=1, help="Images between saves of the resumable state.")] = 25,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Ignore a saved state and start over.")] = False,
    score_threshold: Annotated[Optional[float], typer.Option(
        "--score-threshold", metavar="SCORE", callback=finite_in(0.0, 1.0), show_default=False,
        help="Attention models: the least score of a detection whose decoder query is matched "
             "to an object [default: 0.3].")] = None,
    match_iou: Annotated[Optional[float], typer.Option(
        "--match-iou", metavar="IOU", callback=finite_in(0.0, 1.0), show_default=False,
        help="Attention models: the least box IoU of a detection with the object its query is "
             "counted for [default: 0.5, COCO's AP50].")] = None,
    rank_timeout: Annotated[float, typer.Option(
        "--rank-timeout", metavar="SECONDS", min=1.0,
        help="Under torchrun: how long a rank waits for the others before the run stops.")] = 600.0,
) -> None:
    """Effective dilation of each deformable layer for units on small, medium and large objects
    and on background (mean, std, units), and the share of each unit's deepest sampling points
    inside its object next to the rigid filter's, over a folder of images with COCO
    annotations. Prints the tables and writes JSON (and a figure). Layers with several offset
    groups: the effective dilation is the mean over the groups of each group's own, and the
    deepest points follow group 0 through the chain. Deformable-attention models (--layers names
    attention layers, e.g. encoder5,decoder5; default the last of each): the spread of each
    counted query's sampling points around its reference point and its attention inside its
    object, per size class."""
    from deformviz.errors import InputError
    from deformviz.plotting.output import figure_format
    from deformviz.plotting.size import parse_width
    from deformviz.statistics.run import parse_shard
    from deformviz.statistics.size_classes import SizeThresholds

    from ..runtime import NetworkOptions

    width_in = parse_width(width) if width is not None else None
    if figure is not None:
        figure_format(figure)
    read = [Path(p) for p in (model, weights) if p]  # network files, never overwritten
    if merge:
        if annotations is not None or shard is not None or limit is not None:
            raise InputError("--merge combines finished results: no --annotations, --shard or --limit")
        from deformviz.statistics.ranks import Ranks

        ranks = Ranks.from_environment()
        if ranks is not None and not ranks.is_root:  # under torchrun rank 0 alone merges
            return
        result = _merge(inputs, output or Path("stats.json"), figure, read)
    else:
        if annotations is None:
            raise InputError("give the annotation file with --annotations FILE (COCO format)")
        if len(inputs) != 1:
            raise InputError(f"give one image folder (got {len(inputs)} arguments); to combine "
                             "shard results use --merge")
        try:  # the library names its arguments ("shard '3/2': ..."); here they are options
            options_thresholds = SizeThresholds.parse(thresholds)
            shard_pair = parse_shard(shard) if shard is not None else None
        except InputError as error:
            raise InputError(f"--{error}") from None
        default = "stats.json" if shard_pair is None else f"stats.shard-{shard_pair[0]}-of-{shard_pair[1]}.json"
        network_options = NetworkOptions.parse(model_factory, weights, style, stride_in_1x1,
                                               short_side, max_long_side, weights_from,
                                               dilations, offset_scale)
        result = _run(inputs[0], annotations, output or Path(default), figure, read,
                      options_thresholds,
                      objects == Containment.mask, model, network_options, parse_layers(layers),
                      size, device.value, limit, shard_pair, workers, checkpoint_every, restart,
                      rank_timeout, batch_size, score_threshold, match_iou)
        if result is None:  # a rank other than 0 of a torchrun job: rank 0 reports
            return
    from rich.console import Console

    console = Console()
    for table in render(result.to_json()):
        console.print(table)
    if figure is not None:
        from deformviz.output_paths import writable_path
        from deformviz.plotting.attention_statistics import plot_attention_statistics
        from deformviz.plotting.output import save_figure
        from deformviz.plotting.statistics import plot_statistics

        plot = plot_attention_statistics if result.family == "attention" else plot_statistics
        save_figure(plot(result.to_json(), width_in or parse_width("cvpr-column")),
                    writable_path(figure), dpi)
        print(figure)


def _check_outputs(outputs: list[tuple[str, Path]], inputs: list[Path]) -> None:
    """Every output (option, path) against every input and each other, resolved, before any
    folder is created; then each output's folder checked (created where missing)."""
    from deformviz.atomic_files import check_writable_folder
    from deformviz.errors import OutputError
    from deformviz.output_paths import refuse_overwriting, writable_path

    refuse_overwriting(outputs, inputs)
    for option, path in outputs:
        if path.is_dir():
            raise OutputError(f"{option} {path}: is a folder; {option} names a file")
    for _, path in outputs:
        check_writable_folder(writable_path(path).parent, create=True)


def _state_path(output: Path) -> Path:
    """The resumable state of a run writing `output`: OUTPUT.partial.json next to it."""
    return output.with_name(output.name.removesuffix(".json") + ".partial.json")


def _merge(parts: list[Path], output: Path, figure: Path | None, read: list[Path]):
    from deformviz.output_paths import writable_path
    from deformviz.statistics.results import merge_results, read_result
    from deformviz.statistics.run import write_result

    _check_outputs([("-o", output)] + ([("--figure", figure)] if figure else []), parts + read)
    result = merge_results([read_result(p) for p in parts], [str(p) for p in parts])
    write_result(result, writable_path(output))
    print(f"{len(parts)} results merged: {result.done} images measured, {len(result.failed)} "
          f"failed -> {output}")
    return result


def _run(folder: Path, annotations: Path, output: Path, figure: Path | None, read: list[Path],
         thresholds, use_mask: bool, model: str | None,
         network_options, layers: list[str] | None, size: int, device: str, limit: int | None, shard,
         workers: int, checkpoint_every: int, restart: bool, rank_timeout: float,
         batch_size: int, score_threshold: float | None, match_iou: float | None):
    from deformviz.output_paths import writable_path
    from deformviz.statistics.coco import read_coco
    from deformviz.statistics.ranks import Ranks, join, leave
    from deformviz.statistics.run import StatsOptions, write_result

    from ..runtime import load_cli_network, resolve_device

    # Under torchrun every rank checks the input; rank 0 alone touches the outputs.
    ranks = Ranks.from_environment()
    root = ranks is None or ranks.is_root
    # Everything that can be wrong with the input is found here, before the long run.
    dataset = read_coco(annotations, folder)
    state = _state_path(output)
    if root:
        _check_outputs([("-o", output), ("the state file of -o", state)]
                       + ([("--figure", figure)] if figure else []),
                       [annotations, *read, *(image.path for image in dataset.images)])
    state_file = writable_path(state)  # `new/../x.json` never creates `new/`
    if restart and root:
        state_file.unlink(missing_ok=True)
    torch_device = resolve_device(device)
    if ranks is not None:
        torch_device = join(ranks, torch_device, rank_timeout)
    finished = False  # on every rank: then the ranks leave together
    try:
        network, name = load_cli_network(model, torch_device, network_options)
        chain_network = _stats_network(network, name, torch_device, layers, size, batch_size,
                                       score_threshold, match_iou)
        options = StatsOptions(thresholds, use_mask)

        def measure(progress=None, on_failure=None):
            settings = dict(shard=shard, limit=limit, state_path=state_file if root else None,
                            checkpoint_every=checkpoint_every, workers=workers,
                            batch_size=batch_size, progress=progress,
                            on_failure=on_failure)
            if ranks is None:
                from deformviz.statistics.run import run_statistics

                return run_statistics(chain_network, dataset, options, **settings)
            from deformviz.statistics.distributed import run_statistics_on_ranks

            return run_statistics_on_ranks(chain_network, dataset, ranks, options, **settings)

        if root:
            started = time.perf_counter()
            result = _measure_with_progress(measure, state_file, state)
        else:
            result = measure()
        finished = True
    finally:
        if ranks is not None:
            leave(together=finished)
    if not root:
        return None  # rank 0 reports
    write_result(result, writable_path(output))
    state_file.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    on = "" if ranks is None else f" on {ranks.world} processes"
    print(f"{result.done} images measured, {len(result.failed)} failed, in {elapsed:.1f} s{on} -> {output}")
    return result


def _stats_network(network, name: str, device: str, layers: list[str] | None, size: int,
                   batch_size: int, score_threshold: float | None, match_iou: float | None):
    """The loaded network as a statistics run takes it, chosen by its family; an option of the
    other family is a one-line error."""
    from deformviz.errors import InputError
    from deformviz.statistics.networks import NetworkChain

    from ..runtime import DEFAULT_SIZE, resize_cli_network

    if network.family == "attention":
        from deformviz.statistics.attention_network import DEFAULT_SCORE, AttentionNetwork
        from deformviz.statistics.detection_matching import MATCH_IOU

        if size != DEFAULT_SIZE:
            raise InputError("--long-side/--size: not for a deformable-attention model (it "
                             "resizes the bundled network; a folder's image processor, or a "
                             "factory's --short-side / --max-long-side, sizes the input)")
        if batch_size != 1:
            raise InputError("--batch-size: not for a deformable-attention model (its images run "
                             "one at a time: a padded batch would change its padding masks)")
        return AttentionNetwork(network, name, device, layers,
                                DEFAULT_SCORE if score_threshold is None else score_threshold,
                                MATCH_IOU if match_iou is None else match_iou)
    check_family_options(network.family, {}, {"--score-threshold": score_threshold,
                                              "--match-iou": match_iou})
    return NetworkChain(resize_cli_network(network, size), name, device, layers)


def _measure_with_progress(measure, state_file: Path, state: Path):
    """`measure(progress, on_failure)` under a progress bar on stderr, failures as warnings;
    `state` is the state file as the user spelled it, `state_file` where it is written."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    from deformviz.statistics.ranks import RankLost

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.speed
            return Text(f"{speed:.2f} img/s" if speed else "- img/s")

    errors = Console(stderr=True)
    failures = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                  TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                  console=errors, transient=True) as progress:
        task = progress.add_task("stats", total=None)

        def on_failure(image_id: int, reason: str) -> None:
            failures.append(image_id)
            progress.console.print(f"warning: skipped {reason}", markup=False, highlight=False)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            return measure(on_progress, on_failure)
        except (KeyboardInterrupt, RankLost):
            if state_file.exists():
                errors.print(f"stopped: the finished images are saved in {state}; run the "
                             "same command again to continue", markup=False, highlight=False)
            raise


def render(document: dict) -> list:
    """The result document as rich tables: Table 2 and the in-object share (an attention
    model's: `attention_stats.render_attention`)."""
    if document["settings"].get("family") == "attention":
        from ..attention_stats import render_attention

        return render_attention(document) + _failures(document)
    from rich import box
    from rich.table import Table

    from deformviz.statistics.size_classes import CLASSES

    def cell(entry: dict) -> str:
        if entry["mean"] is None or entry["units"] == 0:
            return "-"
        std = "-" if entry["std"] is None else f"{entry['std']:.2f}"
        return f"{entry['mean']:.2f} ± {std}"

    thresholds = document["settings"]["thresholds_px2"]
    dilation = Table(title="Effective dilation (input cells of each layer), mean ± std "
                           f"(small < {thresholds['small_below'] ** 0.5:.0f}², large > "
                           f"{thresholds['large_above'] ** 0.5:.0f}² px, by "
                           f"{document['settings']['containment']})", box=box.SIMPLE_HEAD)
    dilation.add_column("layer", no_wrap=True)
    for name in CLASSES:
        dilation.add_column(name, justify="right", no_wrap=True)
    dilation.add_column("rigid", justify="right", no_wrap=True)
    dilation.add_column("L/S", justify="right", no_wrap=True)  # large / small
    layers = list(reversed(document["settings"]["layers"]))  # top first, as the paper
    rows = document["effective_dilation"]
    for index, layer in enumerate(layers):
        row = rows[layer]
        small, large = row["small"]["mean"], row["large"]["mean"]
        ratio = f"{large / small:.2f}" if small and large else "-"
        rigid = row.get("rigid")
        dilation.add_row(layer, *(cell(row[name]) for name in CLASSES),
                         "-" if rigid is None else f"{rigid:.2f}", ratio,
                         end_section=index == len(layers) - 1)
    # Unit counts: one row when every layer has the same units (one map size), else per layer.
    counts = {layer: tuple(rows[layer][name]["units"] for name in CLASSES) for layer in layers}
    labelled = [("units", counts[layers[0]])] if len(set(counts.values())) == 1 else \
        [(f"units {layer}", counts[layer]) for layer in layers]
    for label, values in labelled:
        dilation.add_row(f"[dim]{label}[/dim]", *(f"[dim]{v:,}[/dim]" for v in values), "", "")
    tables = [dilation]
    share = document.get("in_object_share")
    if share:
        table = Table(title=f"Share of each unit's {share['points_per_unit']} deepest sampling points "
                            "inside its object (mask where annotated, else box), mean ± std",
                      box=box.SIMPLE_HEAD)
        table.add_column("objects")
        table.add_column("units", justify="right")
        table.add_column("learned offsets", justify="right")
        table.add_column("rigid filter", justify="right")
        for name in CLASSES[:3]:
            entry = share[name]
            values = [entry[k] for k in ("deformed", "rigid")]
            cells = ["-" if v["mean"] is None else
                     f"{v['mean']:.3f} ± {'-' if v['std'] is None else format(v['std'], '.3f')}"
                     for v in values]
            table.add_row(name, f"{entry['units']:,}", *cells)
        tables.append(table)
    return tables + _failures(document)


def _failures(document: dict) -> list[str]:
    """A line saying how many images could not be used, if any."""
    images = document["images"]
    if not images["failed"]:
        return []
    return [f"{len(images['failed'])} of {images['selected']} images could not be used "
            "(listed under images.failed in the JSON)"]
