"""`deformviz inspect`: what deformviz recognised in a checkpoint or model factory."""

from __future__ import annotations

from typing import Annotated

import typer

from ..network_options import (BackboneStyleOpt, DilationsOpt, MaxLongSideOpt, ShortSideOpt,
                               Stride1x1Opt, OffsetScaleOpt, WeightsFromOpt, WeightsOpt)

SUMMARY = "What deformviz recognises in a network: format, architecture, deformable layers."
EPILOG = """\b
Examples:
  deformviz inspect faster_rcnn_r50_fpn_dconv_c3-c5_1x_coco.pth
  deformviz inspect model_final.pkl --no-stride-in-1x1
  deformviz inspect work_dirs/epoch_12.pth --weights-from model
  deformviz inspect model_final.pth --dilations 1,1,1,2
  deformviz inspect mypkg.nets:build --weights best.pth
  deformviz inspect deformable-detr-folder/     # Hugging Face folder: attention layers
"""

#: Side (pixels) of the blank image the probe runs to measure the grids: small, and a
#: multiple of 32 so every ResNet stage divides it.
DUMMY_SIDE = 256


def describe_layers(network: object, side: int = DUMMY_SIDE) -> list[str]:
    """One table row per deformable layer, measured by the probe on a blank side x side
    input: name, paper name, DCN version, kernel, stride, dilation, offset groups, groups,
    and where its input map lies (stride in model-input pixels)."""
    import torch

    from deformviz.probe import probe

    channels = 3
    first = next((m for m in network.module.modules()  # type: ignore[attr-defined]
                  if isinstance(m, torch.nn.Conv2d)), None)
    if first is not None:
        channels = first.in_channels
    result = probe(network.module, torch.zeros(1, channels, side, side),  # type: ignore[attr-defined]
                   grid_overrides=network.stated_grids((side, side)),  # type: ignore[attr-defined]
                   aliases=network.layers.aliases)  # type: ignore[attr-defined]
    header = ("layer", "name", "version", "kernel", "stride", "dilation", "offset groups",
              "groups", "input stride")
    rows = [header]
    for record in result.layers:
        g = record.geometry
        rows.append((record.name, result.label(record.name) if result.label(record.name)
                     != record.name else "-", record.version,
                     f"{g.kernel_size[0]}x{g.kernel_size[1]}", _pair(g.stride),
                     _pair(g.dilation), str(g.offset_groups), str(record.weight_groups),
                     record.input_grid.describe().replace("stride ", "") + " px"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    lines += [f"  ({note})" for note in result.notes]
    return lines


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def command(
    checkpoint: Annotated[str, typer.Argument(
        metavar="CHECKPOINT", show_default=False,
        help="An mmdetection or detectron2 checkpoint (.pth, .pkl), a deformviz export, a "
             "bundled name, a model factory package.module:function, or a Hugging Face "
             "model folder (deformable attention).")],
    weights: WeightsOpt = None,
    style: BackboneStyleOpt = None,
    stride_in_1x1: Stride1x1Opt = None,
    short_side: ShortSideOpt = None,
    max_long_side: MaxLongSideOpt = None,
    weights_from: WeightsFromOpt = None,
    dilations: DilationsOpt = None,
    offset_scale: OffsetScaleOpt = None,
) -> None:
    """Print what was recognised: the format, the architecture (depth, width, style), every
    deformable layer with its stride, dilation, offset groups, DCN version and the stride of
    its input in image pixels (measured by running the network once on a blank image), the
    chain 'deformviz sample' draws by default, and the preprocessing. A file that cannot be
    used gets one line saying why, and exit code 2."""
    from deformviz.networks import load_network

    from ..runtime import NetworkOptions

    options = NetworkOptions.parse(None, weights, style, stride_in_1x1, short_side,
                                   max_long_side, weights_from, dilations, offset_scale)
    network = load_network(checkpoint, **options.loader_arguments())
    if network.family == "attention":
        from ..attention_inspect import describe_attention_layers

        shown = {"source", "format", "architecture", "preprocessing", "attention layers",
                 "deformable attention layers",
                 *network.deformable_layers}  # a factory's details repeat these
        rows = [("source", network.source), ("format", network.format),
                ("architecture", network.architecture),
                *[(key, value) for key, value in network.details.items() if key not in shown]]
        width = max(len(key) for key, _ in rows) + 2
        width = max(width, len("attention layers:") + 1)
        for key, value in rows:
            print(f"{key + ':':<{width}}{value}")
        print(f"{'attention layers:':<{width}}{len(network.deformable_layers)}")
        for line in describe_attention_layers(network):
            print(line)
        print(f"{'default layer:':<{width}}{', '.join(network.default_chain)}")
        print(f"{'preprocessing:':<{width}}{network.preprocessing.describe()}")
        return
    layer_names = set(network.deformable_layers)
    skip = layer_names | {"deformable layers", "preprocessing", "architecture", "format"}
    rows = [("source", network.source), ("format", network.format),
            ("architecture", network.architecture)]
    rows += [(key, value) for key, value in network.details.items() if key not in skip]
    rows.append(("deformable layers", f"{len(network.deformable_layers)} (measured on a "
                                      f"{DUMMY_SIDE} x {DUMMY_SIDE} blank input)"))
    width = max(len(key) for key, _ in rows) + 2
    for key, value in rows:
        print(f"{key + ':':<{width}}{value}")
    for line in describe_layers(network):
        print(line)
    chain = ", ".join(network.default_chain)
    labels = [network.layers.label(name) for name in network.default_chain]
    if labels != list(network.default_chain):
        chain += f" ({', '.join(labels)})"
    print(f"{'default chain:':<{width}}{chain}")
    print(f"{'preprocessing:':<{width}}{network.preprocessing.describe()}")

