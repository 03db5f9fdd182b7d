"""The paper's Table 2 over a dataset: effective dilation by object size, for any network.

image folder + COCO annotations -> (workers) decoded, prepared images with their objects ->
network -> chain of deformable layers -> per-unit effective dilation, size class and in-object
share -> exact accumulators -> table, JSON, figure.

- `coco`: reading and checking a COCO annotation file against an image folder.
- `masks`: polygons and (compressed) RLE -> masks cropped to the object.
- `size_classes`: which object a unit sits on, and its size class.
- `chain`: a chain's units all at once: centres, effective dilation, deepest sampling points.
- `image_statistics`: one image's per-unit numbers.
- `accumulators`: sums that merge exactly, in any order.
- `loader`: decoding and preparing images in DataLoader workers.
- `networks`: any `deformviz.networks.Network` as a chain (`NetworkChain`, through the probe).
- `results`: the JSON document; merging shards.
- `run`: the streaming, resumable, shardable run.
- `ranks`, `distributed`: the same run over the processes of a torchrun job.
- Deformable attention (`network.family == "attention"`): `attention_network`
  (`AttentionNetwork`, the run's network), `detection_matching` (which object a detection
  found), `attention_queries` (one image's counted queries: spread and inside share),
  `attention_accumulators` (their exact sums); the same run, state, shards and ranks.

Example (a notebook; `dataset` from `read_coco("instances.json", "images/")`)::

    from deformviz.networks import load_network
    from deformviz.statistics import NetworkChain, read_coco, run_statistics
    network = NetworkChain(load_network("lite0-deform-synth"), "lite0-deform-synth")
    result = run_statistics(network, read_coco("instances.json", "images/"))
    result.dilation.summary()["res5c"]["large"]["mean"]

A deformable-attention model (a Hugging Face folder; the last encoder and decoder layers)::

    from deformviz.statistics import AttentionNetwork
    network = AttentionNetwork(load_network("deformable-detr/"), "deformable-detr/")
    result = run_statistics(network, read_coco("instances.json", "images/"))
    result.attention.summary()["decoder5"]["large"]["spread_px"]["mean"]
"""

from .accumulators import DilationAccumulator, Moments, ShareAccumulator
from .attention_accumulators import AttentionAccumulator
from .attention_network import AttentionNetwork
from .attention_queries import QueryValues, image_query_values
from .detection_matching import match_detections
from .chain import layer_dilation, trace_deepest_points, unit_centres
from .coco import AnnotationError, CocoDataset, read_coco
from .image_statistics import ImageStatistics, image_statistics
from .networks import BundledNetwork, ChainNetwork, NetworkChain, ProbedNetwork
from .results import StatsResult, merge_results, read_result
from .run import StatsOptions, run_statistics, select_images
from .size_classes import CLASSES, ImageObjects, SizeThresholds

__all__ = [
    "AttentionAccumulator", "AttentionNetwork", "QueryValues", "image_query_values",
    "match_detections", "AnnotationError", "BundledNetwork", "CLASSES", "ChainNetwork", "CocoDataset", "NetworkChain",
    "DilationAccumulator", "ImageObjects", "ImageStatistics", "Moments", "ProbedNetwork",
    "ShareAccumulator", "SizeThresholds", "StatsOptions", "StatsResult", "image_statistics",
    "layer_dilation", "merge_results", "read_coco", "read_result", "run_statistics",
    "select_images", "trace_deepest_points", "unit_centres",
]
