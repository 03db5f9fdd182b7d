"""InternImage / FlashInternImage checkpoints -> the rebuilt backbone, loaded strictly.

What the keys say, and how it is read (layout of OpenGVLab/InternImage's
`classification/models/intern_image.py`, `ops_dcnv3/modules/dcnv3.py` and, for DCNv4,
`flash_intern_image.py` / DCNv4's `modules/dcnv4.py`):
- wrappers: a classification training checkpoint `{'model': ...}` (keys `patch_embed.*`,
  `levels.{i}.blocks.{j}.*`, the classifier `conv_head.*` / `head.*` ignored), or an
  mmdetection / mmsegmentation one `{'meta', 'state_dict'}` with the backbone under
  `backbone.` (neck and heads ignored).
- channels C: `patch_embed.conv2.weight` [C, C/2, 3, 3]; depths: the `blocks.{j}` per level;
  groups: `dcn.mask.weight` [G * 9, C_i] (DCNv3) or `dcn.offset_mask.weight`
  [ceil(27 G / 8) * 8, C_i] (DCNv4); MLP width: `mlp.fc1.weight`; layer scale: `gamma1`;
  post-norm: no `levels.{i}.norm` (with centre feature scale it is kept either way, and then
  post-norm cannot be read: pre-norm is assumed); centre feature scale:
  `dcn.center_feature_scale_proj_weight`; depthwise kernel: `dcn.dw_conv.0.weight` /
  `dcn.offset_mask_dw.weight`.
- not in the weights, stated in `details` (`deformviz inspect`, saved data) with where the
  value came from: offset_scale (the published config whose channels, depths and groups the
  keys match, else 1.0; `offset_scale=` sets it), LayerNorm eps 1e-6 and GELU (every
  published config), and the preprocessing (ImageNet mean/std, RGB).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from torch import Tensor

from deformviz.errors import CheckpointError

from .backbone_keys import load_strictly, split_backbone
from .internimage_model import InternImageBackbone, InternImageSpec
from .loaded_network import LoadedNetwork, default_chain
from .preprocessing import IMAGENET_RGB, Preprocessing

__all__ = ["looks_like_internimage", "load_internimage", "PUBLISHED"]

_ANCHOR = "levels.0.blocks.0.dcn."
_BACKBONE_TOP = ("patch_embed.", "levels.")
_BLOCK = re.compile(r"^levels\.(\d+)\.blocks\.(\d+)\.")

# (core, C, depths, groups) -> (name, offset_scale) from the published configs
# (classification/configs/*.yaml of InternImage; FlashInternImage's flash_intern_image_*).
PUBLISHED: dict[tuple, tuple[str, float]] = {
    ("DCNv3", 64, (4, 4, 18, 4), (4, 8, 16, 32)): ("InternImage-T", 1.0),
    ("DCNv3", 80, (4, 4, 21, 4), (5, 10, 20, 40)): ("InternImage-S", 1.0),
    ("DCNv3", 112, (4, 4, 21, 4), (7, 14, 28, 56)): ("InternImage-B", 1.0),
    ("DCNv3", 160, (5, 5, 22, 5), (10, 20, 40, 80)): ("InternImage-L", 2.0),
    ("DCNv3", 192, (5, 5, 24, 5), (12, 24, 48, 96)): ("InternImage-XL", 2.0),
    ("DCNv4", 64, (4, 4, 18, 4), (4, 8, 16, 32)): ("FlashInternImage-T", 1.0),
    ("DCNv4", 80, (4, 4, 21, 4), (5, 10, 20, 40)): ("FlashInternImage-S", 1.0),
    ("DCNv4", 112, (4, 4, 21, 4), (7, 14, 28, 56)): ("FlashInternImage-B", 0.5),
    ("DCNv4", 160, (5, 5, 22, 5), (10, 20, 40, 80)): ("FlashInternImage-L", 2.0),
}
_UNSUPPORTED = ("res_post_norm1", "post_norms.", "clip_projector", "dcnv3_head")


def _prefix(keys: Mapping[str, object]) -> str | None:
    for key in keys:
        at = key.find(_ANCHOR)
        if at >= 0 and (at == 0 or key[at - 1] == "."):
            return key[:at]
    return None


def looks_like_internimage(keys: Mapping[str, object]) -> bool:
    """True when the keys hold an InternImage-style backbone (`levels.0.blocks.0.dcn.*`)."""
    return _prefix(keys) is not None


def _shape(state: Mapping[str, Tensor], key: str, source: str, prefix: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{source}: incomplete checkpoint: {prefix}{key} is missing")
    return tuple(state[key].shape)


def _read_spec(backbone: Mapping[str, Tensor], source: str, prefix: str,
               offset_scale: float | None) -> tuple[InternImageSpec, dict[str, str]]:
    for key in backbone:
        if any(part in key for part in _UNSUPPORTED):
            raise CheckpointError(f"{source}: {prefix}{key}: InternImage-H/G's extra parts "
                                  "(res-post-norm, level post-norms, CLIP projector) are not "
                                  "supported; T/S/B/L/XL and FlashInternImage are")
    if "patch_embed.norm1.0.running_mean" in backbone:
        raise CheckpointError(f"{source}: {prefix}patch_embed.norm1 is a batch norm; only "
                              "InternImage's LayerNorm configuration is supported")
    depths_found: dict[int, int] = {}
    for key in backbone:
        match = _BLOCK.match(key)
        if match:
            level, block = int(match[1]), int(match[2])
            depths_found[level] = max(depths_found.get(level, 0), block + 1)
    if sorted(depths_found) != list(range(len(depths_found))):
        raise CheckpointError(f"{source}: unknown layout: levels {sorted(depths_found)} under "
                              f"{prefix}levels (expected 0..n-1)")
    depths = tuple(depths_found[i] for i in range(len(depths_found)))
    core = "DCNv4" if "levels.0.blocks.0.dcn.offset_mask.weight" in backbone else "DCNv3"
    channels = _shape(backbone, "patch_embed.conv2.weight", source, prefix)[0]
    groups, hidden = [], []
    for level in range(len(depths)):
        width = channels * 2 ** level
        block = f"levels.{level}.blocks.0."
        if core == "DCNv3":
            taps_groups = _shape(backbone, block + "dcn.mask.weight", source, prefix)[0]
            group = taps_groups // 9
            ok = taps_groups % 9 == 0
        else:
            packed = _shape(backbone, block + "dcn.offset_mask.weight", source, prefix)[0]
            group = next((g for g in range(1, width + 1)
                          if math.ceil(27 * g / 8) * 8 == packed), 0)
            ok = group > 0
        if not ok or width % max(group, 1):
            raise CheckpointError(f"{source}: unknown layout: {prefix}{block}dcn does not fit "
                                  f"a 3x3 DCN with groups dividing {width} channels")
        groups.append(group)
        hidden.append(_shape(backbone, block + "mlp.fc1.weight", source, prefix)[0])
    cfs = "levels.0.blocks.0.dcn.center_feature_scale_proj_weight" in backbone
    dw_key = ("levels.0.blocks.0.dcn.dw_conv.0.weight" if core == "DCNv3"
              else "levels.0.blocks.0.dcn.offset_mask_dw.weight")
    dw = backbone[dw_key].shape[-1] if dw_key in backbone else None
    if core == "DCNv3" and dw is None:
        raise CheckpointError(f"{source}: incomplete checkpoint: {prefix}{dw_key} is missing")
    has_level_norm = "levels.0.norm.0.weight" in backbone
    post_norm = not has_level_norm
    published = PUBLISHED.get((core, channels, depths, tuple(groups)))
    if offset_scale is not None:
        scale, scale_origin = float(offset_scale), "given"
    elif published is not None:
        scale, scale_origin = published[1], f"the published {published[0]} config"
    else:
        scale, scale_origin = 1.0, "the DCN module's default; no published config matches"
    spec = InternImageSpec(
        core, channels, depths, tuple(groups), tuple(hidden), scale,
        layer_scale="levels.0.blocks.0.gamma1" in backbone, post_norm=post_norm,
        center_feature_scale=cfs, dw_kernel_size=dw,
        output_bias="levels.0.blocks.0.dcn.output_proj.bias" in backbone,
        mlp_fc2_bias="levels.0.blocks.0.mlp.fc2.bias" in backbone)
    facts = {
        "offset scale": f"{scale:g} ({scale_origin}; the weights do not say; "
                        "option offset_scale / --offset-scale)",
        "post-norm": (f"{'yes' if post_norm else 'no'} (levels.i.norm "
                      f"{'absent' if post_norm else 'present'})" if not cfs else
                      "no (assumed: with centre feature scale the keys cannot tell)"),
        "norm eps, activation": "1e-6, GELU (InternImage's; the weights do not say)",
        "name": published[0] if published else "no published configuration matches",
    }
    return spec, facts


def load_internimage(state: Mapping[str, Tensor], *, source: str, structure: str = "",
                     offset_scale: float | None = None, short_side: int | None = 800,
                     max_long_side: int | None = 1333) -> LoadedNetwork:
    """Rebuild and strictly load an InternImage / FlashInternImage backbone.

    Args:
        state: the checkpoint's weights (classification: bare keys; detection /
            segmentation: under `backbone.`).
        source, structure: the file and how it wrapped the weights, for messages.
        offset_scale: the DCN's offset_scale when the published config is not the one
            (the weights cannot say).
        short_side, max_long_side: the resize (mmdetection's 800 / 1333 by default;
            classification checkpoints were trained at 224 or more: pass short_side).
    Raises:
        CheckpointError: a layout that fits no InternImage, a missing or unused key.
    """
    prefix = _prefix(state)
    if prefix is None:
        raise CheckpointError(f"{source}: not an InternImage checkpoint (no {_ANCHOR}*)")
    keys = split_backbone(state, prefix, lambda rest: rest.startswith(_BACKBONE_TOP))
    if offset_scale is not None and not (isinstance(offset_scale, (int, float))
                                         and math.isfinite(offset_scale) and offset_scale > 0):
        raise CheckpointError(f"offset_scale must be a positive number, got {offset_scale!r}")
    spec, facts = _read_spec(keys.backbone, source, prefix, offset_scale)
    with torch.device("meta"):  # shapes only: every value comes from the checkpoint
        module = InternImageBackbone(spec)
    load_strictly(module, keys.backbone, source, lambda key: prefix + key)
    module.eval()
    base = IMAGENET_RGB
    preprocessing = Preprocessing(base.channel_order, base.mean, base.std, short_side,
                                  max_long_side)
    name = facts.pop("name")
    family = "FlashInternImage" if spec.core == "DCNv4" else "InternImage"
    architecture = (f"{family} (C {spec.channels}, depths {'-'.join(map(str, spec.depths))}), "
                    f"{spec.core} in every block, offset scale {spec.offset_scale:g}")
    layers = module.deformable_layers
    last = f"levels.{len(spec.depths) - 1}."
    chain = default_chain(tuple(name for name in layers if name.startswith(last)))
    details = {
        "format": "internimage", "file": f"{structure or 'state dict'}, backbone under "
                                         f"{prefix or '(no prefix)'}",
        "architecture": architecture, "published configuration": name,
        "channels": ", ".join(str(spec.channels * 2 ** i) for i in range(len(spec.depths))),
        "blocks per level": ", ".join(map(str, spec.depths)),
        "groups per level": ", ".join(map(str, spec.groups)),
        "MLP width": ", ".join(map(str, spec.mlp_hidden)),
        "layer scale": "yes (gamma1/gamma2)" if spec.layer_scale else "no",
        "centre feature scale": "yes" if spec.center_feature_scale else "no",
        "depthwise kernel": "none" if spec.dw_kernel_size is None else str(spec.dw_kernel_size),
        **facts,
        "ignored keys": keys.ignored_summary(),
        "deformable layers": f"{len(layers)}, default chain {', '.join(chain)} (the last "
                             "three DCN layers of the last level, at most)",
        "preprocessing": preprocessing.describe() + " (ImageNet statistics, RGB; "
                         "mmdetection's test resize)",
    }
    # Short names for people ("stage4.2": level 3, block 2), as InternImage's paper counts stages.
    aliases = {f"stage{int(name.split('.')[1]) + 1}.{name.split('.')[3]}": name for name in layers}
    return LoadedNetwork(module, preprocessing, "internimage", architecture, layers, chain,
                         source, details, aliases)
