"""Checkpoints in the published layouts of mmdetection and detectron2, built for the tests.

No real checkpoint can be downloaded here, so these write the exact key names, shapes and file
structures (mmdetection: `{'meta', 'state_dict'}`; detectron2: `.pkl` of
`{'model': {name: ndarray}, '__author__', ...}` and `.pth` `{'model', 'optimizer', ...}`) from
random weights, with non-zero offset convs. The key names are spelled out here from the
published layouts, independently of deformviz's rebuilt modules, and `reference_backbone`
runs such a state dict as a plain ResNet with nothing but F.conv2d / batch norm.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Layout:
    """A bottleneck ResNet as a checkpoint spells it.

    dcn: {(stage 0..3, block): (modulated, offset groups)}; stage 0 is c2 (layer1 / res2).
    """

    naming: str = "mmdetection"  # or "detectron2"
    blocks: tuple[int, ...] = (3, 4, 6, 3)
    widths: tuple[int, ...] = (4, 8, 8, 16)
    outs: tuple[int, ...] = (16, 32, 32, 64)
    stem: int = 8
    groups: int = 1
    dcn: dict = field(default_factory=dict)
    legacy_offsets: bool = False  # mmdetection's old conv2_offset.* names
    prefix: str | None = None  # default: "backbone." / "backbone.bottom_up."
    batch_counters: bool = True  # num_batches_tracked (mmdetection's BN; not FrozenBN)
    norm: str = "BN"  # "GN" (weight and bias only; mmcv names them gn1..), "none" (no keys)
    deep_stem: bool = False  # mmdetection ResNetV1c/V1d: stem.0..8
    avg_down: bool = False  # mmdetection ResNetV1d: downsample.{0 pool, 1 conv, 2 norm}
    gn_groups: int = 32  # GroupNorm's groups (for the reference forward pass)

    @property
    def key_prefix(self) -> str:
        if self.prefix is not None:
            return self.prefix
        return "backbone." if self.naming == "mmdetection" else "backbone.bottom_up."

    def stage(self, index: int) -> str:
        return f"layer{index + 1}" if self.naming == "mmdetection" else f"res{index + 2}"

    def conv(self, stage: int, block: int, index: int) -> str:
        """Key stem of conv `index` (1..3) of a block."""
        return f"{self.stage(stage)}.{block}.conv{index}"

    def norm_key(self, stage: int, block: int, index: int) -> str:
        if self.naming == "mmdetection":
            return f"{self.stage(stage)}.{block}.{'gn' if self.norm == 'GN' else 'bn'}{index}"
        return f"{self.stage(stage)}.{block}.conv{index}.norm"

    def projection(self, stage: int) -> tuple[str, str]:
        """(conv, norm) key stems of a stage's first-block projection."""
        if self.naming == "mmdetection":
            first = 1 if self.avg_down else 0
            return (f"{self.stage(stage)}.0.downsample.{first}",
                    f"{self.stage(stage)}.0.downsample.{first + 1}")
        return f"{self.stage(stage)}.0.shortcut", f"{self.stage(stage)}.0.shortcut.norm"

    def offset(self, stage: int, block: int) -> str:
        if self.naming == "detectron2" or self.legacy_offsets:
            return f"{self.stage(stage)}.{block}.conv2_offset"
        return f"{self.stage(stage)}.{block}.conv2.conv_offset"

    def stem_keys(self) -> tuple[str, str]:
        if self.naming == "mmdetection":
            return "conv1", "gn1" if self.norm == "GN" else "bn1"
        return "stem.conv1", "stem.conv1.norm"


def _conv(generator: torch.Generator, out: int, inp: int, k: int) -> Tensor:
    return torch.randn(out, inp, k, k, generator=generator) * (2.0 / (inp * k * k)) ** 0.5


def _norm(state: dict, key: str, channels: int, generator: torch.Generator, counters: bool,
          kind: str = "BN") -> None:
    if kind == "none":
        return
    state[f"{key}.weight"] = torch.rand(channels, generator=generator) * 0.5 + 0.5
    state[f"{key}.bias"] = torch.randn(channels, generator=generator) * 0.1
    if kind == "GN":
        return
    state[f"{key}.running_mean"] = torch.randn(channels, generator=generator) * 0.1
    state[f"{key}.running_var"] = torch.rand(channels, generator=generator) * 0.5 + 0.75
    if counters:
        state[f"{key}.num_batches_tracked"] = torch.tensor(1000)


def backbone_state(layout: Layout, seed: int = 0) -> dict[str, Tensor]:
    """The backbone's keys (prefixed), random weights, non-zero offset convs."""
    generator = torch.Generator().manual_seed(seed)
    counters = layout.batch_counters
    state: dict[str, Tensor] = {}
    stem_conv, stem_norm = layout.stem_keys()
    kind = layout.norm
    if layout.deep_stem:
        half = layout.stem // 2
        for index, (out, inp) in enumerate(((half, 3), (half, half), (layout.stem, half))):
            state[f"stem.{3 * index}.weight"] = _conv(generator, out, inp, 3)
            _norm(state, f"stem.{3 * index + 1}", out, generator, counters, kind)
    else:
        state[f"{stem_conv}.weight"] = _conv(generator, layout.stem, 3, 7)
        _norm(state, stem_norm, layout.stem, generator, counters, kind)
    channels = layout.stem
    for stage in range(4):
        width, out = layout.widths[stage], layout.outs[stage]
        for block in range(layout.blocks[stage]):
            state[f"{layout.conv(stage, block, 1)}.weight"] = _conv(generator, width, channels, 1)
            _norm(state, layout.norm_key(stage, block, 1), width, generator, counters, kind)
            state[f"{layout.conv(stage, block, 2)}.weight"] = _conv(
                generator, width, width // layout.groups, 3)
            _norm(state, layout.norm_key(stage, block, 2), width, generator, counters, kind)
            if (stage, block) in layout.dcn:
                modulated, groups = layout.dcn[(stage, block)]
                rows = (27 if modulated else 18) * groups
                state[f"{layout.offset(stage, block)}.weight"] = (
                    torch.randn(rows, width, 3, 3, generator=generator) * 0.05)
                state[f"{layout.offset(stage, block)}.bias"] = (
                    torch.randn(rows, generator=generator) * 0.5)
            state[f"{layout.conv(stage, block, 3)}.weight"] = _conv(generator, out, width, 1)
            _norm(state, layout.norm_key(stage, block, 3), out, generator, counters, kind)
            if block == 0:
                conv, norm = layout.projection(stage)
                state[f"{conv}.weight"] = _conv(generator, out, channels, 1)
                _norm(state, norm, out, generator, counters, kind)
            channels = out
    return {layout.key_prefix + key: value for key, value in state.items()}


def head_state(layout: Layout) -> dict[str, Tensor]:
    """A few neck and head keys, which the loaders must ignore."""
    if layout.naming == "mmdetection":
        names = ("neck.lateral_convs.0.conv.weight", "rpn_head.rpn_conv.weight",
                 "roi_head.bbox_head.fc_cls.weight")
    else:
        names = ("backbone.fpn_lateral2.weight", "proposal_generator.rpn_head.conv.weight",
                 "roi_heads.box_predictor.cls_score.weight")
    return {name: torch.ones(2, 2) for name in names}


def dcn_c3_c5(layout_blocks=(3, 4, 6, 3), modulated: bool = False, groups: int = 1) -> dict:
    """DCN in every block of stages c3-c5 (the zoo's "dconv_c3-c5")."""
    return {(stage, block): (modulated, groups) for stage in (1, 2, 3)
            for block in range(layout_blocks[stage])}


def mmdetection_checkpoint(layout: Layout, seed: int = 0, style: str | None = None) -> dict:
    """{'meta': ..., 'state_dict': ...} as mmdetection's runner saves it."""
    meta = {"mmdet_version": "2.28.2", "epoch": 12, "iter": 87960, "CLASSES": ("person", "car")}
    if style is not None:
        meta["config"] = (f"model = dict(\n    type='FasterRCNN',\n    backbone=dict(\n"
                          f"        type='ResNet',\n        depth=50,\n        style='{style}',\n"
                          f"        dcn=dict(type='DCN', deform_groups=1)))\n")
    return {"meta": meta, "state_dict": {**backbone_state(layout, seed), **head_state(layout)}}


def detectron2_model(layout: Layout, seed: int = 0) -> dict[str, Tensor]:
    return {**backbone_state(layout, seed), **head_state(layout)}


def write_detectron2_pkl(path, layout: Layout, seed: int = 0, protocol: int = 2,
                         old_numpy_path: bool = False) -> dict[str, Tensor]:
    """A model-zoo .pkl: {'model': {name: ndarray}, '__author__', 'matching_heuristics'}.

    old_numpy_path: write `numpy.core` (numpy < 2) instead of `numpy._core` as the module of
    numpy's reconstruct functions (protocol 2 names them in plain text)."""
    model = detectron2_model(layout, seed)
    data = {"model": {k: v.numpy() for k, v in model.items()},
            "__author__": "Detectron2 Model Zoo", "matching_heuristics": True}
    payload = pickle.dumps(data, protocol=protocol)
    if old_numpy_path:
        assert protocol <= 2, "plain-text module names need protocol <= 2"
        payload = payload.replace(b"numpy._core.", b"numpy.core.")
        assert b"numpy.core.multiarray" in payload
    path.write_bytes(payload)
    return model


def write_detectron2_pth(path, layout: Layout, seed: int = 0) -> dict[str, Tensor]:
    """A training output: {'model', 'optimizer', 'scheduler', 'iteration'}."""
    model = detectron2_model(layout, seed)
    torch.save({"model": model, "optimizer": {"state": {}, "param_groups": [{"lr": 0.02}]},
                "scheduler": {"base_lrs": [0.02], "last_epoch": 90000}, "iteration": 89999}, path)
    return model


def reference_backbone(state: dict[str, Tensor], layout: Layout, x: Tensor,
                       stride_in_1x1: bool, conv2_scale: float = 1.0,
                       dilations: tuple[int, ...] = (1, 1, 1, 1),
                       strides: tuple[int, ...] = (1, 2, 2, 2)) -> dict[str, Tensor]:
    """Run the checkpoint as a PLAIN ResNet: every conv2 a regular convolution (what a
    deformable one computes with zero offsets; DCNv2's mask is then sigmoid(0) = 0.5, passed
    as `conv2_scale`). Only F.conv2d, F.batch_norm / F.group_norm, F.avg_pool2d
    and F.relu."""
    p = layout.key_prefix

    def norm(h: Tensor, key: str) -> Tensor:
        if layout.norm == "none":
            return h
        if layout.norm == "GN":
            return F.group_norm(h, layout.gn_groups, state[f"{p}{key}.weight"],
                                state[f"{p}{key}.bias"], 1e-5)
        return F.batch_norm(h, state[f"{p}{key}.running_mean"], state[f"{p}{key}.running_var"],
                            state[f"{p}{key}.weight"], state[f"{p}{key}.bias"], False, 0.0, 1e-5)

    stem_conv, stem_norm = layout.stem_keys()
    if layout.deep_stem:
        h = x
        for index, stride in enumerate((2, 1, 1)):
            h = F.relu(norm(F.conv2d(h, state[f"{p}stem.{3 * index}.weight"], stride=stride,
                                     padding=1), f"stem.{3 * index + 1}"))
    else:
        h = F.relu(norm(F.conv2d(x, state[f"{p}{stem_conv}.weight"], stride=2, padding=3),
                        stem_norm))
    h = F.max_pool2d(h, 3, 2, 1)
    features = {}
    for stage in range(4):
        d = dilations[stage]
        for block in range(layout.blocks[stage]):
            stride = strides[stage] if block == 0 else 1
            s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
            out = F.relu(norm(F.conv2d(h, state[f"{p}{layout.conv(stage, block, 1)}.weight"],
                                       stride=s1), layout.norm_key(stage, block, 1)))
            scale = conv2_scale if (stage, block) in layout.dcn else 1.0
            out = F.relu(norm(scale * F.conv2d(out, state[f"{p}{layout.conv(stage, block, 2)}.weight"],
                                               stride=s3, padding=d, dilation=d,
                                               groups=layout.groups),
                              layout.norm_key(stage, block, 2)))
            out = norm(F.conv2d(out, state[f"{p}{layout.conv(stage, block, 3)}.weight"]),
                       layout.norm_key(stage, block, 3))
            if block == 0:
                conv, projection_norm = layout.projection(stage)
                if layout.avg_down:
                    pooled = F.avg_pool2d(h, stride, stride, ceil_mode=True,
                                          count_include_pad=False)
                    h = norm(F.conv2d(pooled, state[f"{p}{conv}.weight"]), projection_norm)
                else:
                    h = norm(F.conv2d(h, state[f"{p}{conv}.weight"], stride=stride),
                             projection_norm)
            h = F.relu(out + h)
        features[f"c{stage + 2}"] = h
    return features


def zero_offsets(network) -> None:
    """Zero every offset conv of a loaded network: its deformable convs become regular ones."""
    modules = dict(network.module.named_modules())
    with torch.no_grad():
        for name in network.deformable_layers:
            modules[name].conv_offset.weight.zero_()
            modules[name].conv_offset.bias.zero_()


def as_numpy(state: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in state.items()}
