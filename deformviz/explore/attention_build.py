"""From a deformable-attention network and an image to its explore page's description.

One probed pass (`probe_attention_image`, the pass `deformviz sample` makes); the queries'
points come from `attention_units`, the function `sample` draws with, so the page shows
exactly the points of `sample --query K` / `--at X Y --level L`:

- decoder: the queries of the detections (distinct objects, best first, as `--auto`), in
  every decoder layer;
- encoder: every cell of the chosen levels of one encoder layer. Encoder data is the bulk
  of the page (M x L x K points per cell), so by default only the coarsest levels that fit
  in `ENCODER_BUDGET` bytes are carried (see `default_encoder_levels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from deformviz.errors import InputError
from deformviz.imaging import as_loaded_image

from .attention_description import AttentionExploreData, AttentionLayerBlocks, QueryBlock
from .build import image_data_uri
from .description import SampleCommand

if TYPE_CHECKING:  # torch only once a network runs
    from deformviz.probe import AttentionRecord
    from deformviz.visualize.attention_sampling import AttentionImage

__all__ = ["describe_attention_image", "default_encoder_levels", "ENCODER_BUDGET"]

#: Float32 bytes of encoder data the page carries by default (base64 makes it 4/3 larger).
ENCODER_BUDGET = 8_000_000


def _cell_bytes(record: AttentionRecord) -> int:
    """Float32 bytes one encoder cell costs the page: M*L*K points (x, y), weights, reference."""
    return 4 * (3 * record.heads * record.levels * record.points + 2)


def default_encoder_levels(record: AttentionRecord, budget: int = ENCODER_BUDGET
                           ) -> tuple[int, ...]:
    """The levels (0 = finest) carried when none are named: coarsest first, while their
    cells fit in `budget` bytes (at least the coarsest level), returned finest first.

    Example:
        >>> from types import SimpleNamespace
        >>> detr_800 = SimpleNamespace(heads=8, levels=4, points=4,   # 800 x 1066 input
        ...                            spatial_shapes=((100, 134), (50, 67), (25, 34), (13, 17)))
        >>> default_encoder_levels(detr_800)
        (1, 2, 3)
    """
    chosen: list[int] = []
    total = 0
    for level in reversed(range(len(record.spatial_shapes))):
        height, width = record.spatial_shapes[level]
        total += height * width * _cell_bytes(record)
        if chosen and total > budget:
            break
        chosen.append(level)
    return tuple(sorted(chosen))


def _label(probed: AttentionImage, record: AttentionRecord) -> str:
    """The shortest name `sample --layer` takes for the call: "decoder5", else its name."""
    alias = f"{record.stage}{record.index}"
    return alias if probed.probed.index.aliases.get(alias) == record.name else record.name


def _chosen_layers(probed: AttentionImage, layers: Sequence[str]
                   ) -> tuple[AttentionRecord | None, AttentionRecord | None]:
    """(the encoder call carried: named, else the last; the decoder call named, else None)
    from the `--layer` names, at most one of each stage."""
    named = [probed.probed.layer(name) for name in layers]
    stages = [r.stage for r in named]
    for stage in ("encoder", "decoder"):
        if stages.count(stage) > 1:
            raise InputError(f"--layer: the page shows one {stage} layer; name one")
    encoders = [r for r in probed.probed.stage("encoder")
                if r.queries == sum(h * w for h, w in r.spatial_shapes)]
    encoder = next((r for r in named if r.stage == "encoder"), encoders[-1] if encoders else None)
    if encoder is not None and encoder not in encoders:
        raise InputError(f"--layer {encoder.name}: not an encoder layer over the levels' cells")
    decoder = next((r for r in named if r.stage == "decoder"), None)
    return encoder, decoder


def _decoder_layers(probed: AttentionImage, shown: AttentionRecord | None, max_boxes: int
                    ) -> tuple[tuple[dict, ...], tuple[AttentionLayerBlocks, ...], int]:
    """(detections, decoder layers' blocks, index shown first): the detections' queries in
    every decoder call of the last one's size."""
    from deformviz.visualize.attention_sampling import attention_units

    calls = probed.probed.stage("decoder")
    if not calls or max_boxes < 1 or not probed.detected_queries():
        return (), (), 0
    calls = [r for r in calls if r.queries == calls[-1].queries]
    first = attention_units(probed, layer=calls[-1].name, auto=max_boxes)
    queries = [u.query for u in first.units]
    detections = tuple({"query": u.query, "box": [float(v) for v in u.detection.box],
                        "label": u.detection.label, "score": float(u.detection.score)}
                       for u in first.units)
    blocks = tuple(AttentionLayerBlocks(
        r.name, _label(probed, r),
        (QueryBlock.from_units(attention_units(probed, layer=r.name, queries=queries).units),))
        for r in calls)
    shown_index = len(calls) - 1 if shown is None else \
        next((i for i, r in enumerate(calls) if r is shown), None)
    if shown_index is None:
        raise InputError(f"--layer {shown.name}: not a decoder layer of the detections' queries")
    return detections, blocks, shown_index


def _encoder_layer(probed: AttentionImage, record: AttentionRecord,
                   levels: Sequence[int] | str | None) -> AttentionLayerBlocks:
    """Every cell of `levels` (0 = finest, or "all"; default `default_encoder_levels`) of
    `record`."""
    from deformviz.visualize.attention_sampling import attention_units

    if levels == "all":
        levels = range(record.levels)
    chosen = tuple(sorted(set(levels))) if levels else default_encoder_levels(record)
    for level in chosen:
        if not 0 <= level < record.levels:
            raise InputError(f"--encoder-levels: level {level + 1} outside 1..{record.levels}")
    blocks = []
    for level in chosen:
        start = record.level_start[level]
        height, width = record.spatial_shapes[level]
        units = attention_units(probed, layer=record.name,
                                queries=range(start, start + height * width)).units
        blocks.append(QueryBlock.from_units(units))
    return AttentionLayerBlocks(record.name, _label(probed, record), tuple(blocks), chosen)


def describe_attention_image(network: object, image: object, *, image_argument: str,
                             command_arguments: Sequence[str] = (), layers: Sequence[str] = (),
                             encoder_levels: Sequence[int] | str | None = None,
                             score_threshold: float = 0.3, max_boxes: int = 10,
                             model_name: str | None = None) -> AttentionExploreData:
    """Run an attention `network` once on `image` and describe what the page shows.

    Args:
        network: a `deformviz.networks.Network` of family "attention" (`load_network`).
        image: a path, PIL image, [H, W, 3] uint8 array or LoadedImage.
        image_argument: the image as the `deformviz sample` command line should name it.
        command_arguments: the `sample` options that select the same network (e.g.
            ["--model", "detr-folder"]).
        layers: at most one encoder and one decoder call (any name `sample --layer` takes):
            the encoder layer whose cells the page carries (default the last), the decoder
            layer it opens with (default the last; every decoder layer is carried).
        encoder_levels: the encoder levels carried (0 = finest), or "all"; default
            `default_encoder_levels` (the coarsest that fit in ENCODER_BUDGET bytes).
        score_threshold, max_boxes: the detections shown (distinct objects, best first).
        model_name: the network's name or file, for the page's title.
    Raises:
        InputError: an unknown or unsuitable layer, a level outside the levels, or nothing
            to show (no detections above the threshold and no encoder layer).
    """
    from deformviz.visualize.attention_sampling import probe_attention_image

    loaded = as_loaded_image(image)
    # The detections `sample` finds (same threshold, same number): its figure of a pinned
    # query then draws the same box.
    probed = probe_attention_image(network, loaded, score_threshold=score_threshold,
                                   model_name=model_name)  # type: ignore[arg-type]
    encoder, decoder = _chosen_layers(probed, layers)
    detections, decoder_layers, shown = _decoder_layers(probed, decoder, max_boxes)
    if decoder is not None and not decoder_layers:
        raise InputError(f"--layer {decoder.name}: no detections above the score threshold "
                         f"{score_threshold:g}, so no decoder queries to show")
    if not decoder_layers and encoder is None:
        raise InputError(f"nothing to show: no detections above the score threshold "
                         f"{score_threshold:g} and no deformable encoder layer")
    if encoder is None and encoder_levels:
        raise InputError("--encoder-levels: the network has no deformable encoder layer")
    reference = encoder if encoder is not None else probed.probed.layer(decoder_layers[0].name)
    prepared = probed.prepared
    return AttentionExploreData(
        image_name=loaded.name, image_size=loaded.size, image_uri=image_data_uri(loaded),
        model_name=probed.model_name, architecture=probed.network.architecture,
        resized_size=tuple(prepared.resized_size), resize=tuple(prepared.resize),
        level_shapes=reference.spatial_shapes,
        level_strides=tuple(tuple(g.stride) for g in reference.level_grids),
        level_origins=tuple(tuple(g.origin) for g in reference.level_grids),
        detections=detections, decoder=decoder_layers, decoder_shown=shown,
        encoder=None if encoder is None else _encoder_layer(probed, encoder, encoder_levels),
        score_threshold=score_threshold,
        command=SampleCommand(image_argument, tuple(command_arguments)))
