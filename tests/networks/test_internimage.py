"""InternImage checkpoints: published key layout, strict loading, architecture from the keys,
the rigid lattice, offset bias, and DCNv3's softmax / group / (x, y) / point orders."""

from __future__ import annotations

import pytest
import torch

from deformviz.errors import CheckpointError
from deformviz.networks import load_network
from deformviz.ops import reference_dcnv3
from deformviz.probe import probe
from deformviz.probe.dcnv3_records import DCNv3LayerRecord

from .internimage_layouts import as_mmdetection, internimage_state


def _save(tmp_path, payload, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(payload, path)
    return path


def _probe(network, size=(64, 96)):
    return probe(network.module, torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1)))


def test_classification_checkpoint_loads_strictly_with_architecture_from_keys(tmp_path):
    state = internimage_state(layer_scale=True)
    network = load_network(_save(tmp_path, {"model": state, "epoch": 3}))
    used = set(network.module.state_dict())
    assert used == {k for k in state if not k.startswith(("conv_head.", "head."))}
    assert network.format == "internimage"
    assert network.details["blocks per level"] == "1, 1, 2, 2"
    assert network.details["groups per level"] == "1, 2, 4, 8"
    assert network.details["layer scale"].startswith("yes")
    assert "the weights do not say" in network.details["offset scale"]
    assert network.default_chain == ("levels.3.blocks.0.dcn", "levels.3.blocks.1.dcn")
    assert torch.equal(network.module.state_dict()["levels.1.blocks.0.dcn.offset.weight"],
                       state["levels.1.blocks.0.dcn.offset.weight"])


def test_mmdetection_checkpoint_same_network_and_post_norm(tmp_path):
    state = internimage_state(post_norm=True)
    classified = load_network(_save(tmp_path, {"model": state}, "a.pth"))
    detected = load_network(_save(tmp_path, as_mmdetection(state), "b.pth"))
    assert detected.details["post-norm"].startswith("yes")
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        first, second = classified.module(image), detected.module(image)
    assert torch.equal(first["c5"], second["c5"])
    assert "neck" in detected.details["ignored keys"]


def test_unknown_and_missing_keys_fail(tmp_path):
    state = internimage_state()
    extra = dict(state, **{"levels.0.blocks.0.dcn.extra.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="levels.0.blocks.0.dcn.extra.weight"):
        load_network(_save(tmp_path, {"model": extra}, "x.pth"))
    missing = {k: v for k, v in state.items() if k != "levels.1.blocks.0.mlp.fc2.bias"}
    with pytest.raises(CheckpointError, match="fc2.bias is missing"):
        load_network(_save(tmp_path, {"model": missing}, "y.pth"))


def _zero_offsets(state, bias=None, mask_bias=None):
    for key in list(state):
        if key.endswith(("dcn.offset.weight", "dcn.mask.weight")):
            state[key] = torch.zeros_like(state[key])
        if key.endswith("dcn.offset.bias"):
            state[key] = torch.zeros_like(state[key]) if bias is None else bias(state[key])
        if key.endswith("dcn.mask.bias"):
            state[key] = torch.zeros_like(state[key]) if mask_bias is None \
                else mask_bias(state[key])
    return state


def _taps(record: DCNv3LayerRecord, cell=(1, 2)):
    """Absolute (y, x) of every tap of output `cell`, group-major: [G, K, 2] input cells."""
    g = record.geometry
    base = g.regular_locations(torch.tensor(cell, dtype=torch.float32))  # [K, 2]
    offset = record.offset[0, :, cell[0], cell[1]].view(g.offset_groups, g.taps, 2)
    return base[None] + offset


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_zero_offsets_give_the_rigid_lattice(tmp_path, scale):
    network = load_network(_save(tmp_path, {"model": _zero_offsets(internimage_state())}),
                           offset_scale=scale)
    result = _probe(network)
    record = result.layers[-1]
    assert isinstance(record, DCNv3LayerRecord) and record.offset_scale == scale
    lattice = torch.tensor([(1 + scale * a, 2 + scale * b) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    assert torch.allclose(_taps(record), lattice.expand(8, 9, 2), atol=1e-6)
    # zero mask logits: the softmax gives every point 1/9
    assert torch.allclose(record.mask, torch.full_like(record.mask, 1 / 9))


def test_constant_offset_bias_moves_every_tap(tmp_path):
    def bias(b):  # every point of every group: dx = +0.5, dy = -0.25
        return torch.tensor([0.5, -0.25]).repeat(b.numel() // 2)

    network = load_network(_save(tmp_path, {"model": _zero_offsets(internimage_state(), bias)}),
                           offset_scale=2.0)
    record = _probe(network).layers[-1]
    lattice = torch.tensor([(1 + 2.0 * a, 2 + 2.0 * b) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    moved = lattice + torch.tensor([2.0 * -0.25, 2.0 * 0.5])
    assert torch.allclose(_taps(record), moved.expand(8, 9, 2), atol=1e-6)
    # stride 32 pixels per cell on the model input
    assert record.input_grid.stride == (32.0, 32.0)


def test_point_order_xy_order_and_group_order_are_pinned(tmp_path):
    def bias(b):  # group 1 only, point p = 1: i = 0 (x index, outer), j = 1 (y index)
        out = torch.zeros_like(b)
        if b.numel() < 2 * 9 * 2:  # level 0 has one group
            return out
        out[(1 * 9 + 1) * 2:(1 * 9 + 1) * 2 + 2] = torch.tensor([0.5, -1.0])  # (x, y)
        return out

    network = load_network(_save(tmp_path, {"model": _zero_offsets(internimage_state(), bias)}))
    record = _probe(network).layers[-1]
    moved = record.offset[0, :, 0, 0].view(8, 9, 2).clone()
    assert moved[1, 3].tolist() == [-1.0, 0.5]  # tap row 1, column 0; (dy, dx)
    moved[1, 3] = 0
    assert moved.abs().max() == 0  # nothing else moved: not another group, not another tap


def test_modulation_is_the_softmax_over_the_points_of_each_group(tmp_path):
    logits = torch.arange(9.0) / 3

    def mask_bias(b):
        return logits.repeat(b.numel() // 9)

    network = load_network(_save(tmp_path, {"model": _zero_offsets(internimage_state(),
                                                                   mask_bias=mask_bias)}))
    record = _probe(network).layers[-1]
    weights = record.mask[0, :, 0, 0].view(8, 3, 3)  # [G, row, column]
    expected = logits.softmax(0).view(3, 3).t()  # point p = i * 3 + j, i the column
    assert torch.allclose(weights, expected.expand(8, 3, 3), atol=1e-6)
    assert torch.allclose(weights.sum((1, 2)), torch.ones(8))
    offset, mask = record.operator_inputs()
    assert torch.allclose(mask[0, 0, 0, :9], logits.softmax(0))


def test_rebuilt_dcn_matches_the_reference_operator(tmp_path):
    network = load_network(_save(tmp_path, {"model": internimage_state()}))
    dcn = network.module.levels[1].blocks[0].dcn.double()
    x = torch.randn(1, 6, 7, 32, dtype=torch.float64)
    with torch.no_grad():
        features = dcn.dw_conv(x.permute(0, 3, 1, 2))
        offset = dcn.offset(features)
        mask = dcn.mask(features).unflatten(-1, (2, 9)).softmax(-1).flatten(-2)
        core = reference_dcnv3.dcnv3(dcn.input_proj(x), offset, mask, (3, 3), (1, 1), (1, 1),
                                     (1, 1), 2, 1.0)
        assert torch.allclose(dcn(x), dcn.output_proj(core), atol=1e-10)


@pytest.mark.parametrize("dw_kernel", [3, None])
def test_flash_internimage_loads_strictly_and_probes_dcnv4(tmp_path, dw_kernel):
    state = internimage_state(channels=32, groups=(2, 4, 8, 16), flash=True, dw_kernel=dw_kernel)
    network = load_network(_save(tmp_path, as_mmdetection(state)))
    assert set(network.module.state_dict()) == {k[len("backbone."):] for k in
                                                as_mmdetection(state)["state_dict"]
                                                if k.startswith("backbone.")}
    assert network.architecture.startswith("FlashInternImage")
    assert network.details["groups per level"] == "2, 4, 8, 16"
    assert network.details["depthwise kernel"] == ("none" if dw_kernel is None else "3")
    record = _probe(network).layers[-1]
    assert record.kind == "dcnv4" and record.version == "DCNv4"
    assert record.geometry.offset_groups == 16 and record.input_grid.stride == (32.0, 32.0)


def test_training_checkpoint_with_model_ema(tmp_path):
    model, ema = internimage_state(seed=0), internimage_state(seed=1)
    path = _save(tmp_path, {"model": model, "model_ema": ema, "epoch": 2, "max_accuracy": 80.0})
    key = "levels.2.blocks.0.dcn.offset.weight"
    averaged = load_network(path)
    assert averaged.details["EMA"].startswith("timm ModelEma")
    assert torch.equal(averaged.module.state_dict()[key], ema[key])
    own = load_network(path, weights_from="model")
    assert torch.equal(own.module.state_dict()[key], model[key])
