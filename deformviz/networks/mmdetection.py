"""mmdetection 2.x / 3.x checkpoints (mmcv's DCN and DCNv2) -> a rebuilt ResNet, loaded strictly.

What the keys say, and how it is read:
- backbone `backbone.conv1/bn1`, `backbone.layerL.B.{conv1,bn1,conv2,bn2,conv3,bn3}`,
  `...downsample.{0,1}` (torchvision's names; a bare torchvision-named state dict loads too,
  its classifier `fc` ignored). Every other key (neck, rpn_head, roi_head, ...) is ignored
  and counted in `details`.
- depth: blocks per stage (3, 4, 6, 3 = 50; 3, 4, 23, 3 = 101; 3, 8, 36, 3 = 152); widths and
  ResNeXt groups from the conv shapes (groups = width / conv2.weight.shape[1]).
- deformable conv2: `conv2.conv_offset.{weight,bias}` (or the legacy `conv2_offset.*` that
  mmcv renames on load) makes that block's conv2 deformable; 18 G output channels are DCN
  (DCNv1), 27 G DCNv2 (`ModulatedDeformConv2dPack`), G the deform_groups; a count that fits
  both (54 = 3 x 18 = 2 x 27) is settled by the embedded config's `dcn=dict(type=...,
  deform_groups=...)`, else refused.
- norms: batch norm (`bn1`.. with running statistics) or GroupNorm (`gn1`.., weight and bias
  only; 32 groups unless the embedded config's `norm_cfg` says `num_groups`).
- stem: the 7x7 `conv1`, or ResNetV1c/V1d's deep stem `stem.0..8`; `downsample.{1,2}` with
  an average pool at index 0 is ResNetV1d's `avg_down`.
- style: the weights do not say where the stride is. A checkpoint's embedded config
  (meta "config"/"cfg" text) is read for `style='caffe'|'pytorch'`; otherwise pytorch style
  (mmdetection's default) unless the caller says `style="caffe"`. Caffe style also means
  caffe preprocessing (BGR, std 1).
- dilations and strides: nor do the weights say whether a stage is dilated. The embedded
  config's `dilations=` / `strides=`, else the caller's `dilations` (a dilated stage then does
  not stride, as in DC5), else none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from deformviz.errors import CheckpointError

from .backbone_keys import (StatedDeform, block_counts, find_prefix, key_shape, loaded_resnet,
                            read_stages, split_backbone, stage_strides)
from .embedded_config import FoundConfig, mmdetection_backbone
from .loaded_network import LoadedNetwork
from .preprocessing import CAFFE_BGR, MMDETECTION_PYTORCH, Preprocessing
from .resnet import ResNetSpec

__all__ = ["load_mmdetection", "looks_like_mmdetection", "STYLES"]

STYLES = ("pytorch", "caffe")
_ANCHOR = "layer1.0.conv1.weight"
_BACKBONE_TOP = ("conv1.", "bn1.", "gn1.", "stem.", "layer1.", "layer2.", "layer3.", "layer4.")
_LEGACY_OFFSET = re.compile(r"\.conv2_offset\.(weight|bias)$")

_STAGES = ("layer1", "layer2", "layer3", "layer4")

def looks_like_mmdetection(keys: Mapping[str, Any], source: str) -> bool:
    """True when the keys hold a torchvision/mmdetection-named ResNet (layer1.0.conv1...)."""
    return find_prefix(keys, _ANCHOR, source) is not None


def _style_from_meta(extras: Mapping[str, Any]) -> str | None:
    """The backbone style written in an mmdetection checkpoint's embedded config, if any."""
    meta = extras.get("meta")
    if not isinstance(meta, Mapping):
        return None
    for name in ("config", "cfg"):
        text = meta.get(name)
        if isinstance(text, str):
            style = mmdetection_backbone(text).get("style")
            if style in STYLES:
                return style
            found = set(re.findall(r"style\s*=\s*['\"](pytorch|caffe)['\"]", text))
            if len(found) == 1:
                return found.pop()
    return None


def _stated_deform(settings: Mapping[str, Any]) -> StatedDeform | None:
    """What the config's `dcn=dict(type=..., deform_groups=...)` says, or None."""
    kind, groups = settings.get("dcn_type"), settings.get("deform_groups")
    modulated = {"DCN": False, "DCNv2": True}.get(kind) if isinstance(kind, str) else None
    groups = groups if isinstance(groups, int) and not isinstance(groups, bool) and groups > 0 \
        else None
    if modulated is None and groups is None:
        return None
    said = ([f"type={kind!r}"] if modulated is not None else []) + \
        ([f"deform_groups={groups}"] if groups is not None else [])
    return StatedDeform(modulated, groups, f"dcn=dict({', '.join(said)})")


def _norm_kind(backbone: Mapping[str, Tensor], prefix: str, stem_norm: str, settings: dict,
               source: str) -> tuple[str, int, str]:
    """(norm, GroupNorm groups, how it was decided) from the stem norm's keys and the config."""
    if f"{stem_norm}.running_mean" in backbone:
        return "BN", 32, "batch norm (running statistics in the file)"
    if f"{stem_norm}.weight" in backbone:
        groups = settings.get("norm_groups")
        if isinstance(groups, int) and groups > 0:
            return "GN", groups, f"GroupNorm, {groups} groups (the checkpoint's config)"
        return "GN", 32, ("GroupNorm, 32 groups (mmdetection's usual num_groups; the weights "
                          "do not say)")
    raise CheckpointError(f"{source}: unknown layout: {prefix}{stem_norm} has neither batch-norm "
                          "statistics nor GroupNorm weights")


def load_mmdetection(state: Mapping[str, Tensor], *, source: str, structure: str = "",
                     extras: Mapping[str, Any] | None = None,
                     style: str | None = None, short_side: int | None = 800,
                     max_long_side: int | None = 1333,
                     dilations: tuple[int, ...] | None = None,
                     config: FoundConfig | None = None) -> LoadedNetwork:
    """Rebuild and strictly load the ResNet / ResNeXt backbone of an mmdetection checkpoint.

    Args:
        state: the checkpoint's state dict (float tensors).
        source: the file, for messages.
        structure, extras: how the file wrapped the weights, and its other entries ("meta").
        style: "pytorch" (stride on conv2) or "caffe" (stride on conv1); None: the embedded
            config's, else pytorch.
        short_side, max_long_side: the resize of the preprocessing (800, 1333 by default).
        dilations: per stage (c2..c5), when the file's config does not say (e.g. (1, 1, 1, 2)).
        config: the training config found with the file (overrides `extras`' meta).
    Raises:
        CheckpointError: no deformable layers, or keys that fit no bottleneck ResNet.
    """
    prefix = find_prefix(state, _ANCHOR, source)
    if prefix is None:
        raise CheckpointError(f"{source}: not an mmdetection/torchvision ResNet (no {_ANCHOR})")
    if prefix:  # everything under backbone. belongs to it; unknown keys fail the strict load
        keys = split_backbone(state, prefix, lambda rest: True)
    else:  # a bare torchvision-named ResNet: its classifier (fc) is not drawn
        keys = split_backbone(state, prefix, lambda rest: rest.startswith(_BACKBONE_TOP))
    # The legacy offset-conv name, as mmcv's loader renames it.
    backbone = {_LEGACY_OFFSET.sub(r".conv2.conv_offset.\1", key): value
                for key, value in keys.backbone.items()}
    renamed = {_LEGACY_OFFSET.sub(r".conv2.conv_offset.\1", key): key for key in keys.backbone}
    if len(backbone) != len(keys.backbone):
        twice = next(key for key in keys.backbone if _LEGACY_OFFSET.search(key))
        raise CheckpointError(f"{source}: unknown layout: {prefix}{twice} appears under both "
                              "its legacy and its current name")

    deep_stem = "stem.0.weight" in backbone
    avg_down = "layer1.0.downsample.2.weight" in backbone
    if deep_stem and "conv1.weight" in backbone:
        raise CheckpointError(f"{source}: unknown layout: both a deep stem ({prefix}stem.0) and "
                              f"a 7x7 stem conv ({prefix}conv1)")
    settings = mmdetection_backbone(config.text) if config is not None else {}
    blocks = block_counts(backbone, _STAGES, source, prefix, lambda stage: (
        f"{source}: unknown layout: no {stage} blocks in the backbone (a ResNet has "
        "layer1-layer4)"))
    if "layer1.0.conv3.weight" not in backbone:
        raise CheckpointError(f"{source}: unknown layout: {prefix}layer1.0 has no conv3 (a "
                              "ResNet-18/34 basic block; mmdetection builds DCN only into "
                              "bottleneck ResNets)")
    stated = _stated_deform(settings)
    stages = read_stages(backbone, _STAGES,
                         blocks, renamed, source, prefix, "conv2.conv_offset / conv2_offset",
                         stated)
    norm, norm_groups, norm_origin = _norm_kind(
        backbone, prefix, "stem.1" if deep_stem else ("gn1" if "gn1.weight" in backbone else "bn1"),
        settings, source)
    strides, dilations, dilation_origin = stage_strides(settings.get("strides"),
                                                        settings.get("dilations"), dilations,
                                                        source)

    embedded = settings.get("style") if settings.get("style") in STYLES else None
    embedded = embedded or _style_from_meta(extras or {})
    if style is None:
        style, style_origin = embedded or "pytorch", ("the checkpoint's config" if embedded
                                                      else "mmdetection's default")
    else:
        style_origin = "chosen"
    if style not in STYLES:
        raise CheckpointError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    stem_key = "stem.6.weight" if deep_stem else "conv1.weight"
    spec = ResNetSpec(blocks, stages.widths, stages.outs, stages.groups, stages.deform,
                      stride_in_1x1=style == "caffe", naming="mmdetection",
                      stem_channels=key_shape(backbone, stem_key, source, prefix)[0],
                      strides=strides, dilations=dilations, norm=norm, norm_groups=norm_groups,
                      deep_stem=deep_stem, avg_down=avg_down)
    base = CAFFE_BGR if style == "caffe" else MMDETECTION_PYTORCH
    preprocessing = Preprocessing(base.channel_order, base.mean, base.std, short_side,
                                  max_long_side)
    facts = {"file": f"{structure or 'state dict'}, backbone under {prefix or '(no prefix)'}",
             "style": f"{style} ({style_origin}; the weights do not say)",
             "stem": ("deep stem, 3x3 convs (ResNetV1c/V1d: stem.* keys)" if deep_stem
                      else "7x7 conv"),
             "projection": ("average pool, then 1x1 conv (ResNetV1d avg_down: downsample.2 keys)"
                            if avg_down else "strided 1x1 conv"),
             "norm": norm_origin,
             "strides, dilations": dilation_origin,
             "ignored keys": keys.ignored_summary()}
    if stages.settled_by_config:  # said where it decided something the weights could not
        facts["deformable convs"] = (f"{stated.text} (the checkpoint's config; the offset "
                                     "convs' channels fit DCNv1 and DCNv2)")
    return loaded_resnet(spec, backbone, source=source, format="mmdetection",
                         checkpoint_key=lambda key: prefix + renamed.get(key, key),
                         preprocessing=preprocessing, facts=facts)
