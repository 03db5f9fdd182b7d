"""Attention of a network's queries on an image, chosen the ways people ask for them: the
decoder queries of the top detections, queries by index, the encoder query at a pixel, and
one query followed through the layers of its stage.

`probe_attention_image` runs the network once (its own preprocessing, `probe_attention`, its
detection head); `attention_units` and `through_layers` pick queries of that pass and map
them to original-image pixels (`AttentionResult`, drawn by `plotting.attention.plot_attention`,
saved by `save_attention_data`).

Example:
    >>> network = load_network("models/deformable-detr")              # doctest: +SKIP
    >>> probed = probe_attention_image(network, load_image("photo.jpg"))  # doctest: +SKIP
    >>> result = attention_units(probed, auto=3)                       # doctest: +SKIP
    >>> plot_attention(result, "cvpr-column").savefig("attention.pdf")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace


from deformviz.errors import InputError, UnitError
from deformviz.imaging import LoadedImage, ModelInput
from deformviz.networks.network import DenseDetections, Network
from deformviz.probe import AttentionProbeResult, AttentionRecord, probe_attention

from .attention import attention_queries
from .attention_results import AttentionResult
from .results import Detection

__all__ = ["AttentionImage", "probe_attention_image", "attention_units", "through_layers",
           "encoder_query_at"]


@dataclass(frozen=True, eq=False)
class AttentionImage:
    """One probed pass of an attention network on one image.

    Attributes:
        network: the network that ran.
        image: the original image.
        prepared: the model input (tensor, original and resized size).
        probed: every attention call's record.
        detections: the detection head's objects (model-input pixels, with their decoder
            queries), or None without a head.
        model_name: what the network is called in titles and exports.
    """

    network: Network
    image: LoadedImage
    prepared: ModelInput
    probed: AttentionProbeResult
    detections: DenseDetections | None
    model_name: str

    def detection_of(self, index: int) -> Detection:
        """Detection `index` (best first) in original pixels."""
        d = self.detections
        box = self.prepared.boxes_to_original(d.boxes[index:index + 1].numpy())[0]  # type: ignore[union-attr]
        names = self.network.detection_head.class_names  # type: ignore[union-attr]
        label = int(d.labels[index])  # type: ignore[union-attr]
        return Detection(tuple(float(v) for v in box),  # type: ignore[arg-type]
                         names[label] if label < len(names) else str(label),
                         float(d.scores[index]))  # type: ignore[union-attr]

    def detected_queries(self) -> dict[int, Detection]:
        """Decoder query -> its detection (original pixels), best first."""
        d = self.detections
        if d is None or d.queries is None:
            return {}
        return {int(q): self.detection_of(i) for i, q in enumerate(d.queries.tolist())}


def probe_attention_image(network: Network, image: LoadedImage, *, score_threshold: float = 0.3,
                          max_detections: int = 50, model_name: str | None = None
                          ) -> AttentionImage:
    """Prepare `image` with the network's preprocessing, run it once under `probe_attention`
    and ask its detection head (if any) for objects."""
    prepared = network.preprocessing.prepare(image)
    tensor = prepared.tensor.to(next(network.module.parameters()).device)  # type: ignore[attr-defined]
    probed = probe_attention(network.module, tensor, keep_outputs=True,
                             grid_overrides=network.stated_grids(prepared.padded_size))
    head = network.detection_head
    detections = None if head is None else head.detect(
        probed.outputs, prepared.padded_size, score_threshold, max_detections)
    return AttentionImage(network, image, prepared,
                          AttentionProbeResult(probed.records, probed.input_size, None,
                                               probed.notes),
                          detections, model_name or network.source)


def encoder_query_at(record: AttentionRecord, prepared: ModelInput, x: float, y: float,
                     level: int) -> int:
    """The query of an encoder (self-attention) call whose cell of `level` (0 = finest) is
    nearest to original pixel (x, y).

    Raises:
        UnitError: the call is not over the levels' cells, or the level does not exist.
    """
    if record.queries != sum(h * w for h, w in record.spatial_shapes):
        raise UnitError(f"--at picks encoder queries (one per cell); {record.name} is a "
                        f"{record.stage} layer with {record.queries} queries")
    if not 0 <= level < record.levels:
        raise UnitError(f"level {level + 1} outside 1..{record.levels}")
    height, width = prepared.original_size
    if not (0 <= x < width and 0 <= y < height):
        raise UnitError(f"pixel ({x:g}, {y:g}) is outside the {width} x {height} image")
    ry, rx = prepared.resize
    grid = record.level_grids[level]
    cells_h, cells_w = record.spatial_shapes[level]
    # Original pixel (index coordinates) -> model-input pixel -> the level's cell.
    input_y, input_x = (y + 0.5) / ry - 0.5, (x + 0.5) / rx - 0.5
    row = int(round((input_y - grid.origin[0]) / grid.stride[0]))
    col = int(round((input_x - grid.origin[1]) / grid.stride[1]))
    row, col = min(max(row, 0), cells_h - 1), min(max(col, 0), cells_w - 1)
    return record.level_start[level] + row * cells_w + col


#: Two detections overlapping more than this (intersection over union) are one object.
SAME_OBJECT_IOU = 0.5


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


def _distinct_objects(detected: dict[int, Detection], count: int) -> list[int]:
    """The queries of the `count` best detections, skipping any whose box overlaps a chosen
    one by more than SAME_OBJECT_IOU (DETR queries often predict one object twice)."""
    chosen: list[int] = []
    for query, detection in detected.items():
        if all(_iou(detection.box, detected[q].box) <= SAME_OBJECT_IOU for q in chosen):
            chosen.append(query)
        if len(chosen) == count:
            break
    return chosen


def _record(probed: AttentionImage, layer: str | None) -> AttentionRecord:
    return probed.probed.layer(layer) if layer else probed.probed.default_layer()


def attention_units(probed: AttentionImage, *, layer: str | None = None, auto: int | None = None,
                    queries: Sequence[int] = (), at: Sequence[tuple[float, float]] = (),
                    level: int = 0) -> AttentionResult:
    """The chosen queries of one attention call in original pixels.

    Args:
        probed: from `probe_attention_image`.
        layer: the call (any name `LayerIndex` takes: qualified, suffix, "decoder5"); default
            the last decoder layer.
        auto: the decoder queries of the N best detections of distinct objects (boxes
            overlapping by at most SAME_OBJECT_IOU), with their boxes and class names.
        queries: query indices of the call.
        at: original pixels (x, y): the encoder query of the nearest cell of `level`.
        level: pyramid level for `at`, 0 = finest.
    Raises:
        InputError: nothing chosen, no detections for `auto`, an unknown layer or query.
    """
    record = _record(probed, layer)
    chosen = [int(q) for q in queries]
    detected = probed.detected_queries()
    if auto:
        if record.stage != "decoder":
            raise InputError(f"--auto picks decoder queries of detections; {record.name} is "
                             f"an {record.stage} layer (use --at X Y or --query)")
        if probed.detections is None:
            raise InputError("--auto needs detections, and this network gives none deformviz "
                             "reads (no detection head, or outputs without pred_logits / "
                             "pred_boxes); pick queries with --query K or --at X Y")
        if not detected:
            raise InputError("the network found no objects above the score threshold; "
                             "lower it or pick queries with --query")
        chosen += _distinct_objects(detected, auto)
    chosen += [encoder_query_at(record, probed.prepared, x, y, level) for x, y in at]
    if not chosen:
        raise InputError("no queries chosen: give --auto N, --query K or --at X Y")
    result = attention_queries(probed.probed, probed.image, layer=record.name, queries=chosen,
                               resized_size=probed.prepared.resized_size,
                               model_name=probed.model_name,
                               detections=detected if record.stage == "decoder" else None)
    return replace(result, preprocessing=probed.network.preprocessing.to_dict())


def through_layers(probed: AttentionImage, query: int, *, layer: str | None = None
                   ) -> AttentionResult:
    """One query followed through every call of its stage (decoder layer 1..N, or encoder
    layer 1..N), one unit per layer in execution order."""
    record = _record(probed, layer)
    calls = [r for r in probed.probed.stage(record.stage) if r.queries == record.queries]
    results = [attention_queries(probed.probed, probed.image, layer=r.name, queries=[query],
                                 resized_size=probed.prepared.resized_size,
                                 model_name=probed.model_name,
                                 detections=probed.detected_queries()
                                 if r.stage == "decoder" else None) for r in calls]
    return replace(results[0], units=tuple(unit for result in results for unit in result.units),
                   preprocessing=probed.network.preprocessing.to_dict())


