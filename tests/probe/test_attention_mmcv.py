"""probe_attention against mmcv-lite's MultiScaleDeformableAttention (its pure-PyTorch core;
mmcv-lite ships no compiled `mmcv._ext`, so a stand-in that raises when an op is called
lets the module import). batch_first=False (mmcv's default), padded keys."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch

from deformviz.probe.attention_adapters import _PATCHED
from deformviz.probe.attention_probe import probe_attention

pytest.importorskip("mmcv")
pytest.importorskip("mmengine")


def _stand_in_extension() -> types.ModuleType:
    extension = types.ModuleType("mmcv._ext")

    def missing(name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def op(*args, **kwargs):
            raise RuntimeError(f"compiled mmcv op {name} is not in mmcv-lite")

        return op

    extension.__getattr__ = missing  # type: ignore[attr-defined]
    return extension


@pytest.fixture
def mmcv_attention(monkeypatch):
    if "mmcv._ext" not in sys.modules:
        monkeypatch.setitem(sys.modules, "mmcv._ext", _stand_in_extension())
    return importlib.import_module("mmcv.ops.multi_scale_deform_attn")


class _Encoder(torch.nn.Module):
    """Two mmcv attention layers run like an mmdetection encoder (sequence first)."""

    def __init__(self, module) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(
            module.MultiScaleDeformableAttention(embed_dims=16, num_heads=2, num_levels=2,
                                                 num_points=3) for _ in range(2))

    def forward(self, image, query, reference_points, spatial_shapes, level_start, padding):
        for layer in self.layers:
            query = layer(query, value=query, reference_points=reference_points,
                          spatial_shapes=spatial_shapes, level_start_index=level_start,
                          key_padding_mask=padding)
        return query


def test_mmcv_records_what_its_pytorch_core_received(mmcv_attention, monkeypatch):
    torch.manual_seed(0)
    encoder = _Encoder(mmcv_attention).double().eval()
    for layer in encoder.layers:
        torch.nn.init.normal_(layer.sampling_offsets.weight, std=0.5)
        torch.nn.init.normal_(layer.attention_weights.weight, std=0.5)
    shapes = torch.tensor([[6, 8], [3, 4]])
    cells = int((shapes[:, 0] * shapes[:, 1]).sum())
    query = torch.randn(cells, 2, 16, dtype=torch.float64)  # (num_query, bs, dims)
    reference = torch.rand(2, cells, 2, 2, dtype=torch.float64)
    padding = torch.zeros(2, cells, dtype=torch.bool)
    padding[1, :48].view(6, 8)[:, 6:] = True  # second image: 6 of 8 columns on level 0
    padding[1, 48:].view(3, 4)[:, 3:] = True
    start = torch.tensor([0, 48])
    seen = []
    original = mmcv_attention.multi_scale_deformable_attn_pytorch

    def core(value, spatial_shapes, locations, weights):
        seen.append((locations.clone(), weights.clone()))
        return original(value, spatial_shapes, locations, weights)

    monkeypatch.setattr(mmcv_attention, "multi_scale_deformable_attn_pytorch", core)
    image = torch.zeros(2, 3, 48, 64, dtype=torch.float64)
    result = probe_attention(encoder, (image, query, reference, shapes, start, padding))
    assert mmcv_attention.multi_scale_deformable_attn_pytorch is core and not _PATCHED
    assert len(result) == len(seen) == 2
    for record, (locations, weights) in zip(result, seen):
        assert record.kind == "mmcv" and record.spatial_shapes == ((6, 8), (3, 4))
        assert torch.allclose(record.locations, locations, rtol=0, atol=1e-6)
        assert torch.allclose(record.weights, weights, rtol=0, atol=1e-6)
        assert torch.equal(record.padding_mask, padding)  # mmcv: True is padding already
        assert record.valid_ratios[1].tolist() == [[0.75, 1.0], [0.75, 1.0]]
        assert torch.equal(record.reference_points, reference)
