"""probe_attention against Hugging Face transformers' own models (small random configs built
in code): the records equal what the library's sampling core received, captured here
independently, in float64; padding, valid ratios, grids, hook removal."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from tests.probe.attention_models import (BACKBONE_STRIDES, d_fine, deformable_detr,
                                          grounding_dino, mask2former, oneformer, padded_batch,
                                          rt_detr, transformers)

from deformviz.geometry.attention_locations import query_pixels
from deformviz.probe.attention_adapters import _PATCHED
from deformviz.probe.attention_probe import probe_attention

DETR_MODULE = "transformers.models.deformable_detr.modeling_deformable_detr"
V2_MODULE = "transformers.models.rt_detr_v2.modeling_rt_detr_v2"


def _capture_core_module(monkeypatch, module_path: str) -> list[tuple]:
    """Wraps the library's core module class's forward: every (locations, weights, shapes)."""
    core = sys.modules[module_path].MultiScaleDeformableAttention
    seen: list[tuple] = []
    original = core.forward

    def forward(self, value, shapes, shapes_list, start, locations, weights, step):
        seen.append((locations.clone(), weights.clone(), list(shapes_list)))
        return original(self, value, shapes, shapes_list, start, locations, weights, step)

    monkeypatch.setattr(core, "forward", forward)
    return seen


def _compare(records, seen) -> None:
    assert len(records) == len(seen) > 0
    for record, (locations, weights, shapes) in zip(records, seen):
        assert record.locations.dtype == torch.float64
        assert record.spatial_shapes == tuple(tuple(s) for s in shapes)
        assert record.locations.shape == locations.shape
        assert torch.allclose(record.locations, locations, rtol=0, atol=1e-6)
        assert torch.allclose(record.weights, weights, rtol=0, atol=1e-6)
        # weights were recorded after the softmax over levels x points
        summed = record.weights.sum(dim=(3, 4))
        assert torch.allclose(summed, torch.ones_like(summed), atol=1e-9)


@pytest.mark.parametrize("box_refine,two_stage", [(False, False), (True, False), (True, True)])
def test_deformable_detr_records_what_the_core_received(monkeypatch, box_refine, two_stage):
    model = deformable_detr(box_refine, two_stage)
    seen = _capture_core_module(monkeypatch, DETR_MODULE)
    result = probe_attention(model, padded_batch())
    _compare(result.records, seen)
    assert [(r.stage, r.index, r.role) for r in result] == [
        ("encoder", 0, "self"), ("encoder", 1, "self"), ("decoder", 0, "cross"),
        ("decoder", 1, "cross")]
    decoder = result.stage("decoder")[0]
    assert decoder.reference_points.shape[-1] == (4 if two_stage else 2)
    assert decoder.queries == 12 and decoder.heads == 2 and decoder.levels == 4
    encoder = result.stage("encoder")[0]
    assert encoder.queries == sum(h * w for h, w in encoder.spatial_shapes)


def test_records_equal_the_library_outputs_attention_weights():
    """output_attentions hands back the weights (never the locations): they are the same."""
    model = deformable_detr(True, False)
    result = probe_attention(model, {**padded_batch(), "output_attentions": True},
                             keep_outputs=True)
    returned = result.outputs.encoder_attentions
    for record, weights in zip(result.stage("encoder"), returned):
        assert torch.allclose(record.weights, weights, rtol=0, atol=1e-6)


def test_padded_batch_valid_ratios_and_mask(monkeypatch):
    model = deformable_detr()
    captured = {}

    def grab(module, args, kwargs):
        captured["valid_ratios"] = kwargs["valid_ratios"].clone()

    handle = model.model.encoder.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        result = probe_attention(model, padded_batch())
    finally:
        handle.remove()
    expected = captured["valid_ratios"]
    for record in result:
        assert torch.equal(record.valid_ratios, expected)
        assert record.padding_mask is not None and not record.padding_mask[0].any()
    assert (expected[1] < 1).any() and (expected[0] == 1).all()
    # decoder 2-d references arrive scaled by the valid ratios: padded-map normalised
    decoder = result.stage("decoder")[0]
    level0 = decoder.reference_points[1, :, 0]
    level1 = decoder.reference_points[1, :, 1]
    ratio = expected[1, 0] / expected[1, 1]
    assert torch.allclose(level0, level1 * ratio, atol=1e-9)


@pytest.mark.parametrize("version", [1, 2])
def test_rt_detr_records_what_the_core_received(monkeypatch, version):
    model = rt_detr(version)
    if version == 1:
        seen = _capture_core_module(monkeypatch, "transformers.models.rt_detr.modeling_rt_detr")
    else:  # RT-DETR v2's core is a module function; levels arrive flattened
        namespace = sys.modules[V2_MODULE]
        original = namespace.multi_scale_deformable_attention_v2
        seen = []

        def core(value, shapes, locations, weights, points, method="default"):
            batch, queries, heads = locations.shape[:3]
            seen.append((locations.reshape(batch, queries, heads, len(shapes), -1, 2).clone(),
                         weights.reshape(batch, queries, heads, len(shapes), -1).clone(),
                         list(shapes)))
            return original(value, shapes, locations, weights, points, method)

        monkeypatch.setattr(namespace, "multi_scale_deformable_attention_v2", core)
    result = probe_attention(model, padded_batch())
    _compare(result.records, seen)
    assert all(r.stage == "decoder" and r.reference_points.shape[-2:] == (1, 4) for r in result)
    if version == 2:  # the probe's wrapper is gone, the test's own is back
        assert sys.modules[V2_MODULE].multi_scale_deformable_attention_v2 is core
        assert not _PATCHED


@pytest.mark.parametrize("mm", [False, True])
def test_grounding_dino_records_what_the_core_received(monkeypatch, mm):
    model = grounding_dino(mm=mm)
    family = "mm_grounding_dino" if mm else "grounding_dino"
    seen = _capture_core_module(monkeypatch, f"transformers.models.{family}.modeling_{family}")
    inputs = padded_batch()
    inputs["input_ids"] = torch.randint(1, 100, (2, 6), generator=torch.Generator().manual_seed(3))
    result = probe_attention(model, inputs)
    _compare(result.records, seen)
    assert [(r.stage, r.role) for r in result] == [("encoder", "self")] + [("decoder", "cross")] * 2
    assert result.stage("encoder")[0].queries == sum(h * w for h, w in
                                                     result.records[0].spatial_shapes)


class _OneCrossAttention(torch.nn.Module):
    """A library's attention module alone, called as its decoders call it (for families whose
    whole model is too large to build in a test)."""

    def __init__(self, attention: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = torch.nn.Module()
        self.decoder.layers = torch.nn.ModuleList([torch.nn.Module()])
        self.decoder.layers[0].cross_attn = attention

    def forward(self, image, queries, memory, reference, shapes):  # image: its size only
        start = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
        return self.decoder.layers[0].cross_attn(
            queries, encoder_hidden_states=memory, reference_points=reference,
            spatial_shapes=shapes, spatial_shapes_list=[tuple(s) for s in shapes.tolist()],
            level_start_index=start)


@pytest.mark.parametrize("family, prefix", [("lw_detr", "LwDetr"), ("rf_detr", "RfDetr"),
                                            ("omdet_turbo", "OmDetTurbo")])
def test_other_transformers_attention_classes_record_what_their_core_received(monkeypatch,
                                                                              family, prefix):
    path = f"transformers.models.{family}.modeling_{family}"
    namespace = pytest.importorskip(path)
    config = getattr(transformers, f"{prefix}Config")(d_model=32)
    config.num_feature_levels = 2
    torch.manual_seed(0)
    attention = getattr(namespace, f"{prefix}MultiscaleDeformableAttention")(config, num_heads=2,
                                                                             n_points=3)
    model = _OneCrossAttention(attention).double().eval()
    seen = _capture_core_module(monkeypatch, path)
    generator = torch.Generator().manual_seed(5)
    shapes = torch.tensor([[6, 8], [3, 4]])
    inputs = (torch.zeros(2, 3, 48, 64, dtype=torch.float64),
              torch.randn(2, 5, 32, generator=generator, dtype=torch.float64),
              torch.randn(2, 60, 32, generator=generator, dtype=torch.float64),
              torch.rand(2, 5, 2, 2, generator=generator, dtype=torch.float64), shapes)
    result = probe_attention(model, inputs)
    _compare(result.records, seen)
    record = result.records[0]
    assert (record.stage, record.role, record.heads, record.levels, record.points) == \
        ("decoder", "cross", 2, 2, 3)
    assert torch.equal(record.reference_points, inputs[3])


@pytest.mark.parametrize("prefix, points", [("DFine", 4), ("DFine", [2, 4, 3]),
                                            ("Deimv2", [2, 4, 3])])
def test_d_fine_records_what_the_core_received_also_with_uneven_points(monkeypatch, prefix,
                                                                        points):
    model = d_fine(points, prefix=prefix)
    seen = []
    # D-FINE and DEIMv2 keep their core function on each attention module.
    for module in model.modules():
        if type(module).__name__ == f"{prefix}MultiscaleDeformableAttention":
            def core(value, shapes, locations, weights, counts, method="default",
                     original=module.ms_deformable_attn_core):
                seen.append((locations.clone(), weights.clone(), list(shapes), list(counts)))
                return original(value, shapes, locations, weights, counts, method)

            monkeypatch.setattr(module, "ms_deformable_attn_core", core)
    result = probe_attention(model, padded_batch())
    assert len(result.records) == len(seen) == 2
    for record, (locations, weights, shapes, counts) in zip(result.records, seen):
        assert record.spatial_shapes == tuple(tuple(s) for s in shapes)
        assert record.level_points == tuple(counts)
        assert record.points == max(counts)
        start = 0
        for level, count in enumerate(counts):  # the core's flat points, level by level
            flat = slice(start, start + count)
            assert torch.allclose(record.locations[:, :, :, level, :count],
                                  locations[:, :, :, flat], rtol=0, atol=1e-6)
            assert torch.allclose(record.weights[:, :, :, level, :count],
                                  weights[:, :, :, flat], rtol=0, atol=1e-6)
            assert torch.isnan(record.locations[:, :, :, level, count:]).all()
            assert (record.weights[:, :, :, level, count:] == 0).all()
            start += count
        summed = record.weights.sum(dim=(3, 4))
        assert torch.allclose(summed, torch.ones_like(summed), atol=1e-9)
    uneven = not isinstance(points, int)
    assert ("levels x (2, 4, 3) points" in result.records[0].describe()) == uneven


@pytest.mark.parametrize("family", ["mask2former", "oneformer"])
def test_pixel_decoder_records_what_its_core_function_received(monkeypatch, family):
    model = mask2former() if family == "mask2former" else oneformer()  # imports the module
    namespace = sys.modules[f"transformers.models.{family}.modeling_{family}"]
    original = namespace.multi_scale_deformable_attention
    seen = []

    def core(value, shapes, locations, weights):
        seen.append((locations.clone(), weights.clone(), list(shapes)))
        return original(value, shapes, locations, weights)

    monkeypatch.setattr(namespace, "multi_scale_deformable_attention", core)
    inputs = padded_batch()
    if family == "oneformer":
        inputs["task_inputs"] = torch.randint(0, 100, (2, 8),
                                              generator=torch.Generator().manual_seed(4))
    result = probe_attention(model, inputs)
    _compare(result.records, seen)
    assert [(r.stage, r.index, r.role) for r in result] == [("encoder", 0, "self"),
                                                           ("encoder", 1, "self")]
    assert [g.stride for g in result.records[0].level_grids] == [(32.0, 32.0), (16.0, 16.0),
                                                                 (8.0, 8.0)]
    assert namespace.multi_scale_deformable_attention is core and not _PATCHED


def test_level_grids_follow_the_backbone_strides():
    result = probe_attention(deformable_detr(), padded_batch())
    record = result.records[0]
    assert [g.stride for g in record.level_grids] == [(float(s), float(s))
                                                     for s in BACKBONE_STRIDES]
    assert all(g.origin == (0.0, 0.0) for g in record.level_grids)
    assert result.notes == ()


def test_pixels_match_sampling_a_coordinate_map_the_way_the_attention_does():
    """Independent of the closed form: grid_sample (what the attention runs) of maps holding
    each cell centre's model-input pixel (ResNet: cell j at j * stride) at the recorded
    locations, for points well inside the map (zero padding bends the border)."""
    result = probe_attention(deformable_detr(True, True), padded_batch())
    record = result.stage("decoder")[-1]
    height, width = result.input_size
    compared = 0
    for query in range(record.queries):
        pixels = query_pixels(record.locations[0, query].numpy(), record.weights[0, query].numpy(),
                              record.reference_points[0, query].numpy(), record.spatial_shapes,
                              record.level_grids, (height, width), (height, width))
        for level, ((rows, cols), stride) in enumerate(zip(record.spatial_shapes,
                                                           BACKBONE_STRIDES)):
            ys, xs = torch.meshgrid(torch.arange(rows, dtype=torch.float64) * stride,
                                    torch.arange(cols, dtype=torch.float64) * stride,
                                    indexing="ij")
            field = torch.stack([xs, ys])[None]
            locations = record.locations[0, query, :, level].reshape(1, 1, -1, 2)
            sampled = torch.nn.functional.grid_sample(field, 2 * locations - 1, mode="bilinear",
                                                      padding_mode="zeros",
                                                      align_corners=False)[0, :, 0].T.numpy()
            cells = locations[0, 0].numpy() * np.array([cols, rows]) - 0.5
            inside = ((cells >= 0) & (cells <= np.array([cols - 1, rows - 1]))).all(-1)
            expected = pixels.points[:, level].reshape(-1, 2)
            assert np.allclose(sampled[inside], expected[inside], atol=1e-9)
            compared += int(inside.sum())
    assert compared > 50


def test_hooks_and_patches_removed_also_when_the_forward_fails(monkeypatch):
    model = rt_detr(2)
    namespace = sys.modules[V2_MODULE]
    original = namespace.multi_scale_deformable_attention_v2

    def broken(*args, **kwargs):
        raise RuntimeError("core failed")

    monkeypatch.setattr(namespace, "multi_scale_deformable_attention_v2", broken)
    with pytest.raises(RuntimeError, match="core failed"):
        probe_attention(model, padded_batch())
    assert namespace.multi_scale_deformable_attention_v2 is broken and not _PATCHED
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    monkeypatch.setattr(namespace, "multi_scale_deformable_attention_v2", original)
    assert len(probe_attention(model, padded_batch())) == 2
