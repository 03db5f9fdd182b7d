"""detectron2 checkpoints (`.pkl` model-zoo files and `.pth` training outputs) -> a rebuilt
ResNet, loaded strictly.

What the keys say, and how it is read:
- backbone `backbone.bottom_up.stem.conv1.{weight,norm.*}` and
  `backbone.bottom_up.resN.B.{conv1,conv2,conv3,shortcut}.{weight,norm.*}` (FPN models;
  `backbone.` alone for a C4 backbone); everything else (FPN, proposal and RoI heads) is
  ignored and counted in `details`.
- norms: FrozenBN (weight, bias, running_mean, running_var) or BN/SyncBN (with
  num_batches_tracked).
- deformable conv2: `resN.B.conv2_offset.{weight,bias}` (DEFORM_ON_PER_STAGE); 27 G output
  channels are DCNv2 (DEFORM_MODULATED), 18 G DCNv1, G = DEFORM_NUM_GROUPS. The offset conv
  lives in the rebuilt deformable conv as `resN.B.conv2.conv_offset`.
- stride: STRIDE_IN_1X1, true for detectron2's MSRA-initialised models (all its dconv
  configs) and the default here; `stride_in_1x1=False` for torchvision-initialised ones.
- preprocessing: detectron2's default PIXEL_MEAN [103.53, 116.28, 123.675], PIXEL_STD 1, BGR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from deformviz.errors import CheckpointError

from .backbone_keys import (block_counts, find_prefix, key_shape, loaded_resnet, read_stages,
                            split_backbone)
from .loaded_network import LoadedNetwork
from .preprocessing import CAFFE_BGR, Preprocessing
from .resnet import ResNetSpec

__all__ = ["load_detectron2", "looks_like_detectron2"]

_ANCHOR = "stem.conv1.weight"
_OFFSET = re.compile(r"^(res\d\.\d+)\.conv2_offset\.(weight|bias)$")

_STAGES = ("res2", "res3", "res4", "res5")

def looks_like_detectron2(keys: Mapping[str, Any], source: str) -> bool:
    """True when the keys hold a detectron2-named ResNet (stem.conv1, res2...)."""
    return find_prefix(keys, _ANCHOR, source) is not None


def load_detectron2(state: Mapping[str, Tensor], *, source: str, structure: str = "",
                    stride_in_1x1: bool | None = None, short_side: int | None = 800,
                    max_long_side: int | None = 1333) -> LoadedNetwork:
    """Rebuild and strictly load the ResNet / ResNeXt backbone of a detectron2 checkpoint.

    Args:
        state: the checkpoint's "model" dict (float tensors).
        source: the file, for messages; structure: how the file wrapped the weights.
        stride_in_1x1: where the stride of a stage's first block is (None: True, detectron2's
            STRIDE_IN_1X1 default for its MSRA-initialised dconv models).
        short_side, max_long_side: the resize of the preprocessing (800, 1333 by default).
    Raises:
        CheckpointError: no deformable layers, or keys that fit no bottleneck ResNet.
    """
    prefix = find_prefix(state, _ANCHOR, source)
    if prefix is None:
        raise CheckpointError(f"{source}: not a detectron2 ResNet (no {_ANCHOR})")
    keys = split_backbone(state, prefix, lambda rest: rest.startswith(("stem.", "res")))
    backbone = {_OFFSET.sub(r"\1.conv2.conv_offset.\2", key): value
                for key, value in keys.backbone.items()}
    original = {_OFFSET.sub(r"\1.conv2.conv_offset.\2", key): key for key in keys.backbone}
    if len(backbone) != len(keys.backbone):
        raise CheckpointError(f"{source}: unknown layout: both conv2_offset and "
                              "conv2.conv_offset keys for one block")

    def no_blocks(stage: str) -> str:
        elsewhere = next((key for key in state if f"{stage}." in key), None)
        if elsewhere is not None:
            return (f"{source}: {stage} is not in the backbone but at {elsewhere} (a C4 model, "
                    "whose res5 runs on RoIs); deformviz draws backbones with all four stages")
        return f"{source}: unknown layout: no {stage} blocks under {prefix or '(no prefix)'}"

    blocks = block_counts(backbone, _STAGES, source, prefix, no_blocks)
    if "res2.0.conv3.weight" not in backbone:
        raise CheckpointError(f"{source}: unknown layout: {prefix}res2.0 has no conv3 (a "
                              "ResNet-18/34 basic block, which has no deformable conv)")
    stages = read_stages(backbone, _STAGES,
                         blocks, original, source, prefix, "conv2_offset")
    if "stem.conv1.norm.running_mean" not in backbone:
        raise CheckpointError(f"{source}: unknown layout: {prefix}stem.conv1.norm has no "
                              "running statistics (GroupNorm and no-norm models are not supported)")
    frozen = not any(key.endswith("num_batches_tracked") for key in backbone)

    stride_origin = "detectron2's default STRIDE_IN_1X1" if stride_in_1x1 is None else "chosen"
    stride_in_1x1 = True if stride_in_1x1 is None else stride_in_1x1
    spec = ResNetSpec(blocks, stages.widths, stages.outs, stages.groups, stages.deform,
                      stride_in_1x1=stride_in_1x1, naming="detectron2", frozen_norm=frozen,
                      stem_channels=key_shape(backbone, "stem.conv1.weight", source, prefix)[0])
    preprocessing = Preprocessing(CAFFE_BGR.channel_order, CAFFE_BGR.mean, CAFFE_BGR.std,
                                  short_side, max_long_side)
    where = "the 1x1 conv1" if stride_in_1x1 else "the 3x3 conv2"
    facts = {"file": f"{structure or 'state dict'}, backbone under {prefix or '(no prefix)'}",
             "style": f"stride on {where} ({stride_origin}; the weights do not say)",
             "ignored keys": keys.ignored_summary()}
    return loaded_resnet(spec, backbone, source=source, format="detectron2",
                         checkpoint_key=lambda key: prefix + original.get(key, key),
                         preprocessing=preprocessing, facts=facts)
