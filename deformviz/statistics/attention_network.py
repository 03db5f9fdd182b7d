"""A deformable-attention network (`network.family == "attention"`) as a statistics run's
network: its preparation (picklable, for the DataLoader workers), the attention layers the
table reports, and one image measured (`attention_queries`).

Layers are named as `sample --layer` names them (`deformviz.probe.AttentionProbeResult.index`:
qualified names, unique suffixes, "encoder5" / "decoder5" counted from 0), resolved on one
pass over a blank image before the run starts, so a wrong name is a one-line error. By default
the table has the last encoder layer (its queries are the levels' cells) and the last decoder
layer (its queries are the object queries), those the network has; the decoder's only where
the network gives detections deformviz reads (a Hugging Face folder's post-processing, DETR
outputs of a factory's module), as its queries are counted through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from deformviz.errors import InputError
from deformviz.probe import LayerIndex, LayerNameError

from .attention_queries import QueryValues, image_query_values
from .detection_matching import MATCH_IOU
from .loader import PreparedImage
from .networks import BLANK_IMAGE, NetworkPreparation
from .padded_batch import InputPadding

__all__ = ["AttentionNetwork", "MAX_DETECTIONS", "DEFAULT_SCORE"]

#: The least score of a detection whose query is matched (as `sample`'s --score-threshold).
DEFAULT_SCORE = 0.3

#: Detections asked of the head per image (Hugging Face's post-processing keeps at most the
#: 100 best of queries x classes, as COCO's evaluation does).
MAX_DETECTIONS = 1000


class AttentionNetwork:
    """A network of family "attention" for `run_statistics`.

    Args:
        network: the network (`deformviz.networks.Network`, family "attention"), on `device`.
        name: what to record as the model.
        device: where it runs.
        layers: the attention layers of the table (names as `sample --layer` takes them), or
            None for the last encoder and the last decoder layer.
        score_threshold: detections below this score are not matched to objects.
        match_iou: the overlap a detection needs with an object (`detection_matching`).
    Raises:
        InputError: not an attention network; LayerNameError: a wrong or repeated layer name,
        a decoder layer without a detection head, a layer that is neither encoder nor decoder.
    """

    family = "attention"

    def __init__(self, network: Any, name: str, device: str = "cpu",
                 layers: Sequence[str] | None = None, score_threshold: float = DEFAULT_SCORE,
                 match_iou: float = MATCH_IOU) -> None:
        if getattr(network, "family", "convolution") != "attention":
            raise InputError(f"{name} is a network of deformable convolutions; its statistics "
                             "are those of deformviz.statistics.NetworkChain")
        if not 0.0 <= score_threshold <= 1.0:
            raise InputError(f"score threshold {score_threshold:g}: expected a score in [0, 1]")
        if not 0.0 < match_iou <= 1.0:  # at 0 every detection would match some object
            raise InputError(f"match IoU {match_iou:g}: expected an overlap in (0, 1]")
        self.network = network
        self.device = torch.device(device)
        self.prepare = NetworkPreparation(network.preprocessing)
        self.input_padding = InputPadding(1)  # unused: attention networks take no batches
        self.score_threshold = float(score_threshold)
        self.match_iou = float(match_iou)
        blank = self._run(self.prepare(BLANK_IMAGE)[0])
        probed = blank.probed
        index = probed.index
        # Decoder queries are counted through detections: by default only where the network
        # gives detections deformviz reads.
        detects = blank.detections is not None and blank.detections.queries is not None
        stages = [probed.stage("encoder"), probed.stage("decoder") if detects else ()]
        default = tuple(stage[-1].name for stage in stages if stage)
        if not default:
            raise LayerNameError("the network gives no detections deformviz reads (no detection "
                                 "head, or outputs without pred_logits / pred_boxes) and has no "
                                 "encoder (self-attention) layer: no queries to count")
        self.qualified = LayerIndex(index.names, index.aliases, default).chain(layers)
        records = [probed.layer(n) for n in self.qualified]
        for record in records:
            cells = sum(h * w for h, w in record.spatial_shapes)
            if record.stage == "encoder" and record.queries != cells:
                raise LayerNameError(f"{index.label(record.name)}: {record.queries} queries over "
                                     f"{cells} cells; an encoder layer's queries are its cells")
            if record.stage == "decoder" and not detects:
                raise LayerNameError(f"{index.label(record.name)}: decoder queries are counted "
                                     "through detections, and the network gives none deformviz "
                                     "reads (no detection head, or outputs without pred_logits "
                                     "/ pred_boxes); name encoder layers")
        self.layer_names = tuple(index.label(n) for n in self.qualified)
        self.stages = tuple(record.stage for record in records)
        self.description = {"model": name, **network.facts(), "layers": list(self.qualified)}

    def _run(self, tensor: torch.Tensor):
        from deformviz.networks.attention_pass import probe_attention_network

        return probe_attention_network(self.network, tensor.to(self.device),
                                       score_threshold=self.score_threshold,
                                       max_detections=MAX_DETECTIONS)

    def measure(self, item: PreparedImage, use_mask: bool, thresholds) -> dict[str, QueryValues]:
        """One prepared image's counted queries per layer label (`attention_queries`).

        Raises:
            ValueError: the image's numbers are unusable (non-finite locations or weights).
        """
        if item.tensor.shape[0] != 1:
            raise ValueError("attention statistics take one image at a time")
        run = self._run(item.tensor)
        detections = run.detections
        values = image_query_values(
            run.probed, self.qualified, None if detections is None else detections.boxes,
            None if detections is None else detections.queries, item.objects, thresholds,
            item.resized_size, use_mask, self.match_iou)
        return {label: values[name] for label, name in zip(self.layer_names, self.qualified)}
