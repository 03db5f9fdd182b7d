"""detectron2 checkpoints (`.pkl` model-zoo files and `.pth` training outputs) -> a rebuilt
ResNet, loaded strictly.

What the keys say, and how it is read:
- backbone `backbone.bottom_up.stem.conv1.{weight,norm.*}` and
  `backbone.bottom_up.resN.B.{conv1,conv2,conv3,shortcut}.{weight,norm.*}` (FPN models;
  `backbone.` alone for a C4 backbone); everything else (FPN, proposal and RoI heads) is
  ignored and counted in `details`.
- norms: FrozenBN (weight, bias, running_mean, running_var), BN/SyncBN (with
  num_batches_tracked), GN (weight and bias only; detectron2's GroupNorm has 32 groups) or
  none (no norm keys at all).
- deformable conv2: `resN.B.conv2_offset.{weight,bias}` (DEFORM_ON_PER_STAGE); 27 G output
  channels are DCNv2 (DEFORM_MODULATED), 18 G DCNv1, G = DEFORM_NUM_GROUPS. The offset conv
  lives in the rebuilt deformable conv as `resN.B.conv2.conv_offset`.
- stride: MODEL.RESNETS.STRIDE_IN_1X1 from a config in or beside the file (`config.yaml`
  next to `model_final.pth`); else the model zoo's convention: the R models (MSRA's, 3x3
  groups 1) stride in the 1x1, the X models (ResNeXt, grouped 3x3, C2-initialised) in the
  3x3. `stride_in_1x1` overrides both.
- dilation: MODEL.RESNETS.RES5_DILATION from the config, else the caller's `dilations`
  (DC5: res5 dilated 2 and not strided).
- C4 models: res5 is not in the backbone but in the RoI head (`roi_heads.res5.*`), where it
  runs on 14 x 14 pooled RoI features. It is rebuilt on top of res4 and run on the whole res4
  map: its sampling points are those of one RoI covering the image (an assumption, stated).
- preprocessing: the config's PIXEL_MEAN, PIXEL_STD and INPUT.FORMAT, else detectron2's
  defaults [103.53, 116.28, 123.675], 1, BGR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from deformviz.errors import CheckpointError, InputError

from .backbone_keys import (block_counts, find_prefix, key_shape, loaded_resnet, read_stages,
                            split_backbone, stage_strides)
from .embedded_config import FoundConfig, detectron2_settings
from .loaded_network import LoadedNetwork
from .preprocessing import CAFFE_BGR, Preprocessing
from .resnet import ResNetSpec

__all__ = ["load_detectron2", "looks_like_detectron2"]

_ANCHOR = "stem.conv1.weight"
_OFFSET = re.compile(r"^(res\d\.\d+)\.conv2_offset\.(weight|bias)$")

_STAGES = ("res2", "res3", "res4", "res5")
_C4_RES5 = "roi_heads.res5."

def looks_like_detectron2(keys: Mapping[str, Any], source: str) -> bool:
    """True when the keys hold a detectron2-named ResNet (stem.conv1, res2...)."""
    return find_prefix(keys, _ANCHOR, source) is not None


def _stride_in_1x1(chosen: bool | None, settings: dict, groups: int) -> tuple[bool, str]:
    """Where block 0 of a stage strides, and why."""
    if chosen is not None:
        return chosen, "chosen"
    configured = settings.get("stride_in_1x1")
    if isinstance(configured, bool):
        return configured, "the config's MODEL.RESNETS.STRIDE_IN_1X1"
    if groups > 1:
        return False, (f"the model zoo's convention for X models: {groups} groups in the 3x3, "
                       "C2-initialised, STRIDE_IN_1X1 False")
    return True, ("the model zoo's convention for R models: MSRA-initialised, STRIDE_IN_1X1 "
                  "True")


def _norm_kind(backbone: Mapping[str, Tensor], settings: dict) -> tuple[str, str]:
    """(ResNetSpec norm, how it was decided) from the stem norm's keys."""
    if "stem.conv1.norm.running_mean" in backbone:
        if any(key.endswith("num_batches_tracked") for key in backbone):
            return "BN", "BatchNorm (running statistics and counters in the file)"
        return "FrozenBN", "FrozenBN (running statistics, no counters)"
    if "stem.conv1.norm.weight" in backbone:
        return "GN", ("GroupNorm, 32 groups (detectron2's get_norm; weight and bias only in "
                      "the file)")
    configured = settings.get("norm")
    return "none", ("none (no norm keys" + (f"; the config says NORM {configured!r})"
                                              if configured is not None else ")"))


def _preprocessing(settings: dict, short_side: int | None, max_long_side: int | None,
                   config_found: bool) -> tuple[Preprocessing, str]:
    mean, std, order = settings.get("pixel_mean"), settings.get("pixel_std"), \
        settings.get("input_format")
    if mean is None and std is None and order is None:
        return (Preprocessing(CAFFE_BGR.channel_order, CAFFE_BGR.mean, CAFFE_BGR.std, short_side,
                              max_long_side),
                "detectron2's defaults; " + ("the config does not set PIXEL_MEAN, PIXEL_STD or "
                                             "INPUT.FORMAT" if config_found else "no config found"))
    try:
        return (Preprocessing(str(order or "BGR"), tuple(mean or CAFFE_BGR.mean),
                              tuple(std or CAFFE_BGR.std), short_side, max_long_side),
                "the config's PIXEL_MEAN, PIXEL_STD, INPUT.FORMAT")
    except (TypeError, ValueError, InputError) as error:
        raise CheckpointError(f"unusable preprocessing in the config: {error}") from None


def load_detectron2(state: Mapping[str, Tensor], *, source: str, structure: str = "",
                    stride_in_1x1: bool | None = None, short_side: int | None = 800,
                    max_long_side: int | None = 1333, dilations: tuple[int, ...] | None = None,
                    config: FoundConfig | None = None) -> LoadedNetwork:
    """Rebuild and strictly load the ResNet / ResNeXt backbone of a detectron2 checkpoint.

    Args:
        state: the checkpoint's "model" dict (float tensors).
        source: the file, for messages; structure: how the file wrapped the weights.
        stride_in_1x1: where the stride of a stage's first block is (None: the config's
            STRIDE_IN_1X1, else the zoo's convention: True for R, False for X models).
        short_side, max_long_side: the resize of the preprocessing (800, 1333 by default).
        dilations: per stage, where the config does not say (DC5: (1, 1, 1, 2)).
        config: the config found in or beside the file (detectron2's YAML).
    Raises:
        CheckpointError: no deformable layers, or keys that fit no bottleneck ResNet.
    """
    prefix = find_prefix(state, _ANCHOR, source)
    if prefix is None:
        raise CheckpointError(f"{source}: not a detectron2 ResNet (no {_ANCHOR})")
    settings = detectron2_settings(config.text) if config is not None else {}
    c4 = (not any(key.startswith(prefix + "res5.") for key in state)
          and any(key.startswith(_C4_RES5) for key in state))
    if c4:  # res5 of the RoI head, rebuilt on top of res4
        in_roi_head = {"res5." + key[len(_C4_RES5):]: value for key, value in state.items()
                       if key.startswith(_C4_RES5)}
        rest = {key: value for key, value in state.items() if not key.startswith(_C4_RES5)}
        keys = split_backbone({**rest, **{prefix + k: v for k, v in in_roi_head.items()}},
                              prefix, lambda rest: rest.startswith(("stem.", "res")))
    else:
        keys = split_backbone(state, prefix, lambda rest: rest.startswith(("stem.", "res")))

    def file_key(key: str) -> str:
        return (_C4_RES5 + key[len("res5."):]) if c4 and key.startswith("res5.") else prefix + key

    backbone = {_OFFSET.sub(r"\1.conv2.conv_offset.\2", key): value
                for key, value in keys.backbone.items()}
    original = {_OFFSET.sub(r"\1.conv2.conv_offset.\2", key): key for key in keys.backbone}
    if len(backbone) != len(keys.backbone):
        raise CheckpointError(f"{source}: unknown layout: both conv2_offset and "
                              "conv2.conv_offset keys for one block")

    def no_blocks(stage: str) -> str:
        elsewhere = next((key for key in state if f"{stage}." in key), None)
        if elsewhere is not None:
            return (f"{source}: {stage} is neither in the backbone nor in the RoI head's "
                    f"{_C4_RES5}* but at {elsewhere}; deformviz cannot place it")
        return f"{source}: unknown layout: no {stage} blocks under {prefix or '(no prefix)'}"

    blocks = block_counts(backbone, _STAGES, source, prefix, no_blocks)
    if "res2.0.conv3.weight" not in backbone:
        raise CheckpointError(f"{source}: unknown layout: {prefix}res2.0 has no conv3 (a "
                              "ResNet-18/34 basic block, which has no deformable conv)")
    stages = read_stages(backbone, _STAGES,
                         blocks, original, source, prefix, "conv2_offset")
    norm, norm_origin = _norm_kind(backbone, settings)
    stride_in_1x1, stride_origin = _stride_in_1x1(stride_in_1x1, settings, stages.groups)
    res5_dilation = settings.get("res5_dilation")
    configured = (1, 1, 1, res5_dilation) if isinstance(res5_dilation, int) else None
    strides, stage_dilations, dilation_origin = stage_strides(
        (1, 2, 2, 1) if configured and configured[3] > 1 else None, configured, dilations,
        source)
    spec = ResNetSpec(blocks, stages.widths, stages.outs, stages.groups, stages.deform,
                      stride_in_1x1=stride_in_1x1, naming="detectron2", norm=norm,
                      stem_channels=key_shape(backbone, "stem.conv1.weight", source, prefix)[0],
                      strides=strides, dilations=stage_dilations)
    preprocessing, preprocessing_origin = _preprocessing(settings, short_side, max_long_side,
                                                         config is not None)
    where = "the 1x1 conv1" if stride_in_1x1 else "the 3x3 conv2"
    facts = {"file": f"{structure or 'state dict'}, backbone under {prefix or '(no prefix)'}",
             "style": f"stride on {where} ({stride_origin}; the weights do not say)",
             "norm": norm_origin,
             "strides, dilations": dilation_origin,
             "preprocessing from": preprocessing_origin,
             "ignored keys": keys.ignored_summary()}
    if c4:
        facts["C4 model"] = (f"res5 from {_C4_RES5}*, run on the whole res4 map; in the network "
                             "it runs on 14 x 14 RoI features, so its points hold for a RoI of "
                             "about 224 px (14 cells of 16 px)")
    return loaded_resnet(spec, backbone, source=source, format="detectron2",
                         checkpoint_key=lambda key: file_key(original.get(key, key)),
                         preprocessing=preprocessing, facts=facts)
