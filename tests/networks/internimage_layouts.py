"""InternImage checkpoints in the published key layout, written key by key from the names of
OpenGVLab/InternImage's classification/models/intern_image.py and ops_dcnv3/modules/dcnv3.py
(not from deformviz's module), with small widths and depths."""

from __future__ import annotations

import torch


def internimage_state(channels: int = 16, depths=(1, 1, 2, 2), groups=(1, 2, 4, 8),
                      mlp_ratio: int = 4, layer_scale: bool = False, post_norm: bool = False,
                      classifier: bool = True, seed: int = 0, flash: bool = False,
                      dw_kernel: int | None = 3) -> dict[str, torch.Tensor]:
    """A DCNv3 InternImage state dict (classification keys), random values (scaled small).
    flash=True: FlashInternImage's (DCNv4's `offset_mask`, `value_proj`, optional
    `offset_mask_dw`, no output_proj or fc2 bias: its defaults dcn_output_bias and
    mlp_fc2_bias False), after OpenGVLab/DCNv4's classification/models/flash_intern_image.py."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.1

    state: dict[str, torch.Tensor] = {}

    def linear(key: str, out: int, inp: int) -> None:
        state[key + ".weight"], state[key + ".bias"] = rnd(out, inp), rnd(out)

    def norm(key: str, width: int) -> None:
        state[key + ".weight"], state[key + ".bias"] = 1 + rnd(width), rnd(width)

    state["patch_embed.conv1.weight"], state["patch_embed.conv1.bias"] = \
        rnd(channels // 2, 3, 3, 3), rnd(channels // 2)
    norm("patch_embed.norm1.1", channels // 2)
    state["patch_embed.conv2.weight"], state["patch_embed.conv2.bias"] = \
        rnd(channels, channels // 2, 3, 3), rnd(channels)
    norm("patch_embed.norm2.1", channels)
    for i, depth in enumerate(depths):
        width, group = channels * 2 ** i, groups[i]
        for j in range(depth):
            block = f"levels.{i}.blocks.{j}."
            norm(block + "norm1.0", width)
            if flash:
                if dw_kernel is not None:
                    state[block + "dcn.offset_mask_dw.weight"] = rnd(width, 1, dw_kernel, dw_kernel)
                    state[block + "dcn.offset_mask_dw.bias"] = rnd(width)
                linear(block + "dcn.offset_mask", -(-27 * group // 8) * 8, width)
                linear(block + "dcn.value_proj", width, width)
                state[block + "dcn.output_proj.weight"] = rnd(width, width)
            else:
                state[block + "dcn.dw_conv.0.weight"] = rnd(width, 1, 3, 3)
                state[block + "dcn.dw_conv.0.bias"] = rnd(width)
                norm(block + "dcn.dw_conv.1.1", width)
                linear(block + "dcn.offset", group * 9 * 2, width)
                linear(block + "dcn.mask", group * 9, width)
                linear(block + "dcn.input_proj", width, width)
                linear(block + "dcn.output_proj", width, width)
            norm(block + "norm2.0", width)
            linear(block + "mlp.fc1", width * mlp_ratio, width)
            if flash:
                state[block + "mlp.fc2.weight"] = rnd(width, width * mlp_ratio)
            else:
                linear(block + "mlp.fc2", width, width * mlp_ratio)
            if layer_scale:
                state[block + "gamma1"], state[block + "gamma2"] = 1 + rnd(width), 1 + rnd(width)
        if not post_norm:
            norm(f"levels.{i}.norm.0", width)
        if i < len(depths) - 1:
            state[f"levels.{i}.downsample.conv.weight"] = rnd(2 * width, width, 3, 3)
            norm(f"levels.{i}.downsample.norm.1", 2 * width)
    if classifier:
        top = channels * 2 ** (len(depths) - 1)
        state["conv_head.0.weight"] = rnd(int(top * 1.5), top, 1, 1)
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[f"conv_head.1.0.{name}"] = rnd(int(top * 1.5))
        state["conv_head.1.0.num_batches_tracked"] = torch.tensor(0)
        linear("head", 10, int(top * 1.5))
    return state


def as_mmdetection(state: dict[str, torch.Tensor]) -> dict:
    """The backbone of `state` under `backbone.` with a neck and a head, as mmdetection /
    mmsegmentation save it."""
    wrapped = {"backbone." + k: v for k, v in state.items()
               if not k.startswith(("conv_head.", "head."))}
    wrapped["neck.lateral_convs.0.conv.weight"] = torch.zeros(4, 16, 1, 1)
    wrapped["decode_head.conv_seg.weight"] = torch.zeros(3, 4, 1, 1)
    return {"meta": {"epoch": 1}, "state_dict": wrapped}
