"""Shared steps of the checkpoint loaders: finding the backbone's keys, reading a deformable
conv's kind from its offset conv, loading strictly, and describing what was rebuilt."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from deformviz.errors import CheckpointError, InputError

from .loaded_network import LoadedNetwork, default_chain
from .preprocessing import Preprocessing
from .resnet import STAGE_OUTPUTS, DeformSpec, ResNet, ResNetSpec

__all__ = ["find_prefix", "deform_spec_from_offset_conv", "load_strictly", "loaded_resnet",
           "BackboneKeys"]

_COUNTERS = ("num_batches_tracked",)
#: Top-level names of necks and heads in mmdetection and detectron2 detectors.
_NECKS = ("neck", "fpn")
_FPN = ("fpn", "top_block")  # detectron2's FPN modules inside its `backbone`
_HEADS = ("proposal_generator", "roi_heads", "sem_seg_head", "panoptic_head")
_NORM_NAMES = {"BN": "BatchNorm (statistics of training)", "FrozenBN": "FrozenBN",
               "GN": "GroupNorm", "none": "none"}


@dataclass(frozen=True)
class BackboneKeys:
    """A checkpoint split into its backbone (prefix removed) and everything else."""

    prefix: str
    backbone: dict[str, Tensor]
    ignored: tuple[str, ...]

    def ignored_summary(self) -> str:
        """What the keys outside the backbone are, by part: e.g. "312 keys outside the
        backbone: neck 40 (neck.*), heads 272 (roi_head, rpn_head)", or for detectron2
        "... neck 24 (FPN under backbone.: backbone.fpn_*), heads 40 (proposal_generator,
        roi_heads)"."""
        if not self.ignored:
            return "none"
        # The backbone's own parent (detectron2's "backbone." above "backbone.bottom_up.")
        # holds the FPN built on it.
        parent = self.prefix.split(".")[0] + "." if "." in self.prefix.rstrip(".") else None
        parts: dict[str, set[str]] = {"neck": set(), "heads": set(), "classifier": set(),
                                      "other": set()}
        counts = dict.fromkeys(parts, 0)
        for key in self.ignored:
            top = key.split(".")[0]
            under = next((p for p in (parent, self.prefix) if p and key.startswith(p)), None)
            if under is not None and (under == parent or key[len(under):].startswith(_FPN)):
                second = key[len(under):].split(".")[0]
                part, name = "neck", f"FPN under {under}: {under}{second.split('_')[0]}*"
            elif top in _NECKS:
                part, name = "neck", f"{top}.*"
            elif "head" in top or top in _HEADS:
                part, name = "heads", top
            elif top in ("fc", "classifier"):
                part, name = "classifier", top
            else:
                part, name = "other", top
            parts[part].add(name)
            counts[part] += 1
        shown = [f"{part} {counts[part]} ({', '.join(sorted(names)[:4])}"
                 f"{', ...' if len(names) > 4 else ''})" for part, names in parts.items() if names]
        return f"{len(self.ignored)} keys outside the backbone: " + ", ".join(shown)


def find_prefix(keys: Iterable[str], anchor: str, source: str) -> str | None:
    """The prefix under which `anchor` (e.g. "layer1.0.conv1.weight") occurs, or None.

    Raises CheckpointError when several prefixes hold it (e.g. a teacher and a student)."""
    prefixes = sorted({key[: -len(anchor)] for key in keys
                       if key.endswith(anchor) and (key == anchor or key[-len(anchor) - 1] == ".")})
    if len(prefixes) > 1:
        raise CheckpointError(f"{source}: several backbones in one file (keys "
                              f"{', '.join(p + anchor for p in prefixes)}); save the one to draw "
                              "on its own")
    return prefixes[0] if prefixes else None


def split_backbone(state: Mapping[str, Tensor], prefix: str,
                   is_backbone_key: Callable[[str], bool]) -> BackboneKeys:
    """Keys under `prefix` for which `is_backbone_key(rest)` holds, prefix removed; the rest
    are ignored (necks, heads, a classifier)."""
    backbone, ignored = {}, []
    for key, value in state.items():
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if rest is not None and is_backbone_key(rest):
            backbone[rest] = value
        else:
            ignored.append(key)
    return BackboneKeys(prefix, backbone, tuple(ignored))


def deform_spec_from_offset_conv(weight: Tensor, in_channels: int, key: str,
                                 source: str, stated: StatedDeform | None = None) -> DeformSpec:
    """DCNv1 or DCNv2 and the offset groups, from a 3x3 offset conv's weight [C, in, 3, 3]:
    C = 18 G (offsets) or 27 G (offsets and mask), G dividing the input channels. Where C
    fits both (54 = 3 x 18 = 2 x 27), what a config `stated` settles it; else refused."""
    if weight.dim() != 4 or tuple(weight.shape[1:]) != (in_channels, 3, 3) or not weight.shape[0]:
        raise CheckpointError(f"{source}: unknown layout: {key} has shape {tuple(weight.shape)}, "
                              f"expected [18 G or 27 G, {in_channels}, 3, 3]")
    channels = int(weight.shape[0])
    candidates = offset_conv_kinds(channels, in_channels)
    if not candidates:
        raise CheckpointError(f"{source}: unknown layout: {key} has {channels} output channels, not "
                              f"18 G (DCNv1) or 27 G (DCNv2) with G dividing {in_channels}")
    if len(candidates) > 1 and stated is not None:
        settled = [c for c in candidates if stated.allows(c)]
        if not settled:
            raise CheckpointError(f"{source}: {key}: the config says {stated.text}, but "
                                  f"{channels} channels are DCNv1 with "
                                  f"{candidates[0].offset_groups} offset groups or DCNv2 with "
                                  f"{candidates[1].offset_groups}")
        candidates = settled
    if len(candidates) > 1:
        raise CheckpointError(f"{source}: {key}: {channels} channels fit both DCNv1 with "
                              f"{candidates[0].offset_groups} offset groups and DCNv2 with "
                              f"{candidates[1].offset_groups}; deformviz cannot tell which")
    return candidates[0]


def offset_conv_kinds(channels: int, in_channels: int) -> list[DeformSpec]:
    """The deformable convs an offset conv of `channels` outputs can serve: DCNv1 with
    channels / 18 offset groups, DCNv2 with channels / 27 (G dividing `in_channels`)."""
    return [DeformSpec(modulated, channels // per_group)
            for modulated, per_group in ((False, 18), (True, 27))
            if channels % per_group == 0 and in_channels % (channels // per_group) == 0]


@dataclass(frozen=True)
class StatedDeform:
    """What a training config says of its deformable convs (mmdetection's
    `dcn=dict(type=..., deform_groups=...)`): DCNv2 or not, and G; None where it is silent.

    Attributes:
        modulated: True for DCNv2 ("DCNv2"), False for DCNv1 ("DCN"), None: not said.
        offset_groups: G, or None.
        text: how the config said it, for messages and `inspect`.
    """

    modulated: bool | None
    offset_groups: int | None
    text: str

    def allows(self, spec: DeformSpec) -> bool:
        return ((self.modulated is None or spec.modulated == self.modulated)
                and (self.offset_groups is None or spec.offset_groups == self.offset_groups))


def block_counts(backbone: Mapping[str, Tensor], stage_names: tuple[str, ...], source: str,
                 prefix: str, no_blocks: Callable[[str], str]) -> tuple[int, ...]:
    """Blocks per stage from the keys `STAGE.BLOCK.*` (block indices must run 0..n-1).

    Args:
        stage_names: the four stages as the format names them ("layer1".. or "res2"..).
        no_blocks: the message for a stage without any block (formats explain it differently).
    """
    counts = []
    for name in stage_names:
        pattern = re.compile(rf"^{re.escape(name)}\.(\d+)\.")
        found = {int(match.group(1)) for key in backbone if (match := pattern.match(key))}
        if not found:
            raise CheckpointError(no_blocks(name))
        missing = sorted(set(range(max(found) + 1)) - found)
        if missing:
            raise CheckpointError(f"{source}: incomplete checkpoint: block "
                                  f"{prefix}{name}.{missing[0]} is missing")
        counts.append(max(found) + 1)
    return tuple(counts)


STANDARD_STRIDES = (1, 2, 2, 2)


def _stage_tuple(value: object) -> tuple[int, ...] | None:
    if isinstance(value, (tuple, list)) and len(value) == 4 and all(
            isinstance(v, int) and 1 <= v <= 8 for v in value):
        return tuple(value)  # type: ignore[arg-type]
    return None


def stage_strides(config_strides: object, config_dilations: object,
                  chosen_dilations: Sequence[int] | None, source: str
                  ) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """(strides, dilations, how they were decided) of the four stages c2..c5.

    The config's `strides=` / `dilations=` win; else `chosen_dilations` (a stage dilated by
    more than 1 then does not stride, as detectron2's DC5 and mmdetection's dilated configs
    do); else the standard strides (1, 2, 2, 2) without dilation, which the weights cannot
    prove (dilation does not change a weight's shape)."""
    strides, dilations = _stage_tuple(config_strides), _stage_tuple(config_dilations)
    if chosen_dilations is not None:
        chosen = _stage_tuple(tuple(chosen_dilations))
        if chosen is None:
            raise InputError(f"dilations must be four whole numbers in 1..8 (c2..c5), got "
                             f"{tuple(chosen_dilations)}")
        if dilations is not None and dilations != chosen:
            raise CheckpointError(f"{source}: dilations {chosen} contradict the checkpoint's "
                                  f"config ({dilations})")
    if dilations is not None:
        strides = strides or STANDARD_STRIDES
        origin = "the checkpoint's config"
    elif chosen_dilations is not None:
        dilations = chosen
        strides = strides or tuple(1 if d > 1 else s for d, s in zip(dilations, STANDARD_STRIDES))
        origin = "chosen (--dilations; a dilated stage does not stride)"
    else:
        dilations, strides = (1, 1, 1, 1), strides or STANDARD_STRIDES
        origin = "standard: no config says otherwise; the weights do not say"
    return strides, dilations, (f"strides {', '.join(map(str, strides))}, dilations "
                                f"{', '.join(map(str, dilations))} ({origin})")


def key_shape(backbone: Mapping[str, Tensor], key: str, source: str, prefix: str) -> tuple[int, ...]:
    """The shape of backbone key `key`, or a CheckpointError naming it as the file spells it."""
    if key not in backbone:
        raise CheckpointError(f"{source}: unknown layout: {prefix}{key} is missing")
    return tuple(backbone[key].shape)


@dataclass(frozen=True)
class StageLayout:
    """What a ResNet checkpoint's four bottleneck stages hold, read from key shapes.

    Attributes:
        widths: bottleneck (3x3) channels of each stage.
        outs: output channels of each stage.
        groups: the 3x3 convs' groups (1, or ResNeXt's cardinality), the same in every stage.
        deform: per stage, per block, its deformable conv's DeformSpec or None (a plain 3x3).
    """

    widths: tuple[int, ...]
    outs: tuple[int, ...]
    groups: int
    deform: tuple[tuple[DeformSpec | None, ...], ...]
    settled_by_config: bool = False  # an offset conv fitting DCNv1 and DCNv2, told by a config


def read_stages(backbone: Mapping[str, Tensor], stage_names: tuple[str, ...],
                blocks: tuple[int, ...], original_keys: Mapping[str, str], source: str,
                prefix: str, offset_keys: str,
                stated: StatedDeform | None = None) -> StageLayout:
    """Widths, groups and deformable blocks of stages `stage_names` ("layer1".. or "res2"..),
    with offset convs under the normalised `STAGE.BLOCK.conv2.conv_offset.*` names;
    `original_keys` maps those back to the file's own for messages, and `offset_keys` names the
    offset keys the format uses, for the "no deformable layers" message."""
    widths, outs, groups = [], [], set()
    deform: list[tuple[DeformSpec | None, ...]] = []
    settled = False
    for stage, count in zip(stage_names, blocks):
        width = key_shape(backbone, f"{stage}.0.conv1.weight", source, prefix)[0]
        widths.append(width)
        outs.append(key_shape(backbone, f"{stage}.0.conv3.weight", source, prefix)[0])
        conv2 = key_shape(backbone, f"{stage}.0.conv2.weight", source, prefix)
        groups.add(width // conv2[1] if conv2[1] else 0)
        stage_deform = []
        for block in range(count):
            key = f"{stage}.{block}.conv2.conv_offset.weight"
            if key in backbone and backbone[key].dim() == 4:
                settled |= len(offset_conv_kinds(int(backbone[key].shape[0]), width)) > 1
            stage_deform.append(deform_spec_from_offset_conv(
                backbone[key], width, prefix + original_keys[key], source, stated)
                if key in backbone else None)
        deform.append(tuple(stage_deform))
    if len(groups) != 1 or 0 in groups:
        raise CheckpointError(f"{source}: unknown layout: conv2 groups differ between stages "
                              f"({sorted(groups)})")
    group = groups.pop()
    if not any(any(stage) for stage in deform):
        name = ResNetSpec(blocks, tuple(widths), tuple(outs), group).name
        raise CheckpointError(f"{source}: no deformable layers: the keys look like a plain "
                              f"{name} (no {offset_keys} keys)")
    return StageLayout(tuple(widths), tuple(outs), group, tuple(deform),
                       settled and stated is not None)


def load_strictly(module: torch.nn.Module, state: Mapping[str, Tensor], source: str,
                  checkpoint_key) -> None:
    """Load `state` (module keys) so that every module entry gets a value and every value is
    used; batch-norm counters (num_batches_tracked) may be absent (older files).

    Args:
        checkpoint_key: module key -> the key as the checkpoint spells it (for messages).
    Raises:
        CheckpointError naming the first missing, unused or misshapen key.
    """
    expected = module.state_dict()
    unused = sorted(set(state) - set(expected))
    if unused:
        raise CheckpointError(f"{source}: unknown layout: {checkpoint_key(unused[0])} fits "
                              "no part of the rebuilt network")
    complete = {}
    for key, target in expected.items():
        if key not in state:
            if key.endswith(_COUNTERS):
                complete[key] = torch.zeros((), dtype=torch.long)
                continue
            raise CheckpointError(f"{source}: incomplete checkpoint: {checkpoint_key(key)} is missing")
        value = state[key]
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(f"{source}: unknown layout: {checkpoint_key(key)} has shape "
                                  f"{tuple(value.shape)}, the rebuilt network needs "
                                  f"{tuple(target.shape)}")
        complete[key] = value.to(target.dtype)
    # assign: the checkpoint's tensors become the module's (it may have been built on the
    # meta device, without memory or initialisation).
    module.load_state_dict(complete, strict=True, assign=True)


def _stage_list(stages: list[int]) -> str:
    """[1, 2, 3] -> "c3-c5"; [1, 3] -> "c3, c5"."""
    names = [STAGE_OUTPUTS[s] for s in stages]
    if len(stages) > 1 and stages == list(range(stages[0], stages[-1] + 1)):
        return f"{names[0]}-{names[-1]}"
    return ", ".join(names)


def loaded_resnet(spec: ResNetSpec, state: Mapping[str, Tensor], *, source: str, format: str,
                  checkpoint_key, preprocessing: Preprocessing, facts: dict[str, str]) -> LoadedNetwork:
    """Build the ResNet for `spec`, load `state` strictly, and describe it."""
    if spec.norm == "GN":
        channels = {spec.stem_channels, *spec.widths, *spec.out_channels}
        if spec.deep_stem:
            channels.add(spec.stem_channels // 2)
        odd = sorted(c for c in channels if c % spec.norm_groups)
        if odd:
            raise CheckpointError(f"{source}: GroupNorm with {spec.norm_groups} groups cannot "
                                  f"normalise {odd[0]} channels; the groups were "
                                  f"{facts.get('norm', 'assumed')}")
    with torch.device("meta"):  # shapes only: every value comes from the checkpoint
        module = ResNet(spec)
    load_strictly(module, state, source, checkpoint_key)
    module.eval()
    layers = module.deformable_layers
    style = ("caffe style (stride on the 1x1)" if spec.stride_in_1x1
             else "pytorch style (stride on the 3x3)")
    kinds = sorted({d.version for stage in spec.deform for d in stage if d is not None})
    stages = [i for i, stage in enumerate(spec.deform) if any(stage)]
    variant = " V1d" if spec.avg_down else (" V1c" if spec.deep_stem else "")
    extras = "".join([", GroupNorm" if spec.norm == "GN" else "",
                      ", no norm" if spec.norm == "none" else ""]
                     + [f", {STAGE_OUTPUTS[i]} dilated {d}" for i, d in enumerate(spec.dilations)
                        if d > 1])
    architecture = (f"{spec.name}{variant}, {style}, {'/'.join(kinds)} in "
                    f"{_stage_list(stages)}{extras}")
    details = {"format": format, **facts, "architecture": architecture,
               "blocks per stage": ", ".join(map(str, spec.blocks)),
               "bottleneck widths": ", ".join(map(str, spec.widths)),
               "groups": str(spec.groups),
               "norm": facts.get("norm") or _NORM_NAMES[spec.norm],
               "deformable layers": f"{len(layers)}, default chain {', '.join(default_chain(layers))}"}
    for name, text in _layer_details(spec).items():
        details[name] = text
    details["preprocessing"] = preprocessing.describe()
    return LoadedNetwork(module, preprocessing, format, architecture, layers, default_chain(layers),
                         source, details)


def _layer_details(spec: ResNetSpec) -> dict[str, str]:
    """One line per deformable conv: kind, offset groups, stride, dilation, and the stride of
    its input map in image pixels (model-input pixels per cell)."""
    lines = {}
    input_stride = 4  # after the stem's stride-2 conv and stride-2 max pool
    for stage, name in enumerate(spec.stage_names):
        for block, deform in enumerate(spec.deform[stage]):
            stride = spec.block_stride(stage, block)
            conv2_stride = 1 if spec.stride_in_1x1 else stride
            conv2_input = input_stride * (stride if spec.stride_in_1x1 else 1)
            if deform is not None:
                lines[f"{name}.{block}.conv2"] = (
                    f"{deform.version}, {deform.offset_groups} offset group"
                    f"{'s' if deform.offset_groups > 1 else ''}, stride {conv2_stride}, "
                    f"dilation {spec.dilations[stage]}, groups {spec.groups}, "
                    f"{spec.widths[stage]} channels, input stride {conv2_input} px")
            input_stride *= stride
    return lines
