"""From an attention probe to chosen queries in original-image pixels (`AttentionResult`):
`probe_attention` once, then `attention_queries` for any layer and queries of that pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deformviz.errors import InputError
from deformviz.geometry.attention_locations import query_pixels
from deformviz.imaging import LoadedImage
from deformviz.probe.attention_records import AttentionProbeResult

from .attention_results import AttentionResult, AttentionUnit
from .results import Detection

__all__ = ["attention_queries", "valid_size"]


def valid_size(pixel_mask: object) -> tuple[int, int]:
    """(H, W) of the image inside a padded model input, from its [H, W] pixel mask (nonzero
    on the image, as Hugging Face processors return it; the image sits top-left).

    Example:
        >>> import numpy as np
        >>> mask = np.zeros((4, 6)); mask[:3, :5] = 1
        >>> valid_size(mask)
        (3, 5)
    """
    mask = np.asarray(pixel_mask) != 0
    if mask.ndim != 2:
        raise InputError(f"pixel mask must be [H, W], got shape {mask.shape}")
    return int(mask.any(1).sum()), int(mask.any(0).sum())


def attention_queries(probed: AttentionProbeResult, image: LoadedImage, *, layer: str,
                      queries: Sequence[int], resized_size: tuple[int, int] | None = None,
                      batch_index: int = 0, model_name: str = "network",
                      detections: Mapping[int, Detection] | None = None) -> AttentionResult:
    """The attention of `queries` in the call `layer`, mapped to `image`'s pixels.

    Args:
        probed: from `probe_attention`.
        image: the original image (its size is the target frame).
        layer: an attention call's name (`AttentionRecord.name`).
        queries: query indices of that call.
        resized_size: (H, W) the image had inside the model input (before padding); default
            the model input's size (no padding).
        batch_index: which image of the probed batch.
        detections: query index -> its predicted box (original pixels), drawn with it.
    Raises:
        InputError: unknown layer (`LayerNameError`), query or batch index.
    """
    record = probed.layer(layer)
    if not 0 <= batch_index < record.batch:
        raise InputError(f"batch index {batch_index} outside 0..{record.batch - 1}")
    resized = tuple(resized_size) if resized_size is not None else probed.input_size
    units = []
    for query in queries:
        if not 0 <= int(query) < record.queries:
            raise InputError(f"query {query} outside 0..{record.queries - 1} of {layer}")
        pixels = query_pixels(record.locations[batch_index, query].numpy(),
                              record.weights[batch_index, query].numpy(),
                              record.reference_points[batch_index, query].numpy(),
                              record.spatial_shapes, record.level_grids,
                              resized, image.size)  # type: ignore[arg-type]
        units.append(AttentionUnit(record.name, record.stage, record.index, record.role,
                                   int(query), pixels.reference, pixels.reference_box,
                                   pixels.points, pixels.weights,
                                   (detections or {}).get(int(query))))
    return AttentionResult(image, model_name, probed.input_size, resized,  # type: ignore[arg-type]
                           record.spatial_shapes, tuple(g.stride for g in record.level_grids),
                           tuple(units))
