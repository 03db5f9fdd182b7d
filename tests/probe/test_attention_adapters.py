"""Attention adapters on stand-ins for libraries not installed here: a module registered
under detrex's module path with detrex's forward signature (read from detrex's
`detrex/layers/multi_scale_deform_attn.py`), whose core is either the pure-PyTorch function
or the compiled kernel's autograd Function (both stand-ins here). The records must not
depend on which core runs, and the module namespace must be restored afterwards."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from deformviz.probe.adapters import find_adapter, register_layer_adapter, unregister_layer_adapter
from deformviz.probe.attention_adapters import (_PATCHED, AttentionAdapter, CoreCall, Slot,
                                                find_attention_adapter)
from deformviz.probe.attention_probe import probe_attention

NAMESPACE = "detrex.layers.multi_scale_deform_attn"


def _core_output(value: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    batch, queries = locations.shape[:2]
    return value.new_zeros(batch, queries, value.shape[2] * value.shape[3])


def _pytorch_core(value, shapes, locations, weights):
    return _core_output(value, locations)


class _KernelFunction:
    """Stands in for the compiled kernel's autograd Function."""

    @staticmethod
    def apply(value, shapes, level_start, locations, weights, step):
        return _core_output(value, locations)


class MultiScaleDeformableAttention(nn.Module):
    """detrex's argument order; batch_first=False; offsets from a linear layer."""

    def __init__(self, dims: int = 8, heads: int = 2, levels: int = 2, points: int = 3) -> None:
        super().__init__()
        self.heads, self.levels, self.points = heads, levels, points
        self.sampling_offsets = nn.Linear(dims, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dims, heads * levels * points)
        self.use_kernel = False

    def forward(self, query, key=None, value=None, identity=None, query_pos=None,
                key_padding_mask=None, reference_points=None, spatial_shapes=None,
                level_start_index=None):
        query, value = query.permute(1, 0, 2), value.permute(1, 0, 2)
        batch, queries, dims = query.shape
        value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(batch, -1, self.heads, dims // self.heads)
        offsets = self.sampling_offsets(query).view(batch, queries, self.heads, self.levels,
                                                    self.points, 2)
        weights = self.attention_weights(query).view(batch, queries, self.heads, -1).softmax(-1)
        weights = weights.view(batch, queries, self.heads, self.levels, self.points)
        normaliser = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        locations = reference_points[:, :, None, :, None, :] + \
            offsets / normaliser[None, None, None, :, None, :]
        module = sys.modules[NAMESPACE]
        if self.use_kernel:
            out = module.MultiScaleDeformableAttnFunction.apply(
                value, spatial_shapes, level_start_index, locations, weights, 64)
        else:
            out = module.multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations,
                                                             weights)
        return out.permute(1, 0, 2) + identity


@pytest.fixture
def detrex_namespace(monkeypatch):
    namespace = types.ModuleType(NAMESPACE)
    namespace.multi_scale_deformable_attn_pytorch = _pytorch_core
    namespace.MultiScaleDeformableAttnFunction = _KernelFunction
    cls = type("MultiScaleDeformableAttention", (MultiScaleDeformableAttention,),
               {"__module__": NAMESPACE})
    namespace.MultiScaleDeformableAttention = cls
    monkeypatch.setitem(sys.modules, NAMESPACE, namespace)
    return namespace


def _inputs():
    generator = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[4, 6], [2, 3]])
    cells = 30
    query = torch.randn(cells, 2, 8, generator=generator, dtype=torch.float64)
    reference = torch.rand(2, cells, 2, 2, generator=generator, dtype=torch.float64)
    padding = torch.zeros(2, cells, dtype=torch.bool)
    padding[1, :24].view(4, 6)[2:] = True
    return query, reference, shapes, padding


def test_records_do_not_depend_on_which_core_runs(detrex_namespace):
    torch.manual_seed(0)
    layer = detrex_namespace.MultiScaleDeformableAttention().double().eval()
    query, reference, shapes, padding = _inputs()

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.ModuleDict({"layers": nn.ModuleList([layer])})

        def forward(self, image):
            return self.encoder["layers"][0](query, value=query, identity=query,
                                             key_padding_mask=padding,
                                             reference_points=reference,
                                             spatial_shapes=shapes,
                                             level_start_index=torch.tensor([0, 24]))

    network = Wrapper().eval()
    image = torch.zeros(2, 3, 32, 48)
    records = []
    for kernel in (False, True):
        layer.use_kernel = kernel
        records.append(probe_attention(network, image).records[0])
        assert detrex_namespace.MultiScaleDeformableAttnFunction is _KernelFunction
        assert detrex_namespace.multi_scale_deformable_attn_pytorch is _pytorch_core
        assert not _PATCHED
    pure, kernel = records
    assert pure.kind == "detrex" and (pure.stage, pure.index, pure.role) == ("encoder", 0, "self")
    assert torch.equal(pure.locations, kernel.locations)
    assert torch.equal(pure.weights, kernel.weights)
    assert pure.valid_ratios[1].tolist() == [[1.0, 0.5], [1.0, 1.0]]  # level 0 half padded
    assert torch.equal(pure.padding_mask, padding)


def test_registered_adapter_is_found_first_and_unregistered():
    class MyAttention(nn.Module):
        pass

    adapter = AttentionAdapter("mine", (f"{__name__}.{MyAttention.__qualname__}",),
                               Slot(1, "ref"), None, True,
                               (CoreCall("core", "attribute", 1, 2, 3),))
    assert find_attention_adapter(MyAttention()) is None
    register_layer_adapter(adapter)  # the one registry of layer kinds, both families
    try:
        assert find_attention_adapter(MyAttention()) is adapter
        assert find_adapter(MyAttention()) is None  # not a deformable-convolution kind
    finally:
        unregister_layer_adapter(adapter)
    assert find_attention_adapter(MyAttention()) is None


def test_authors_class_matched_under_any_package_name():
    cls = type("MSDeformAttn", (nn.Module,), {"__module__": "models.ops.modules.ms_deform_attn"})
    found = find_attention_adapter(cls())
    assert found is not None and found.kind == "deformable-detr"
