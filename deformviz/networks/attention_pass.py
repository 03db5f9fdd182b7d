"""One probed forward pass of a deformable-attention network (`family == "attention"`): every
attention call recorded by `deformviz.probe.probe_attention`, and the detection head's objects
from the outputs of the same pass. What `probe_network` is for deformable convolutions; the
attention figures (`deformviz.visualize.attention_sampling`) and the statistics
(`deformviz.statistics.attention_network`) both run their networks through it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from deformviz.probe import AttentionProbeResult, probe_attention

from .network import DenseDetections, Network

__all__ = ["AttentionPass", "probe_attention_network"]


@dataclass(frozen=True, eq=False)
class AttentionPass:
    """One probed pass of an attention network.

    Attributes:
        probed: every attention call's record (the module's outputs dropped).
        detections: the detection head's objects of image 0 (model-input pixels, with their
            decoder queries), or None without a head or with `detect=False`.
    """

    probed: AttentionProbeResult
    detections: DenseDetections | None


def probe_attention_network(network: Network, tensor: Tensor, *, score_threshold: float = 0.3,
                            max_detections: int = 50, detect: bool = True) -> AttentionPass:
    """Run `network` once on a prepared input under `probe_attention`, then its detection head.

    Args:
        network: a Network of family "attention".
        tensor: [1, C, H, W] from `network.preprocessing.prepare` (moved to the module's
            device here).
        score_threshold, max_detections: for the detection head.
        detect: ask the detection head for objects.
    """
    tensor = tensor.to(next(network.module.parameters()).device)
    input_size = (int(tensor.shape[-2]), int(tensor.shape[-1]))
    head = network.detection_head if detect else None
    probed = probe_attention(network.module, tensor, keep_outputs=head is not None,
                             grid_overrides=network.stated_grids(input_size))
    detections = None if head is None else head.detect(probed.outputs, input_size,
                                                       score_threshold, max_detections)
    return AttentionPass(AttentionProbeResult(probed.records, probed.input_size, None,
                                              probed.notes), detections)
