"""Capturing what the deformable layers of any network did on one input (one forward pass).

    from deformviz.probe import probe
    result = probe(model.eval(), image_tensor)      # standard hooks, removed afterwards
    for layer in result.layers:                     # execution order
        print(layer.name, layer.kind, layer.geometry, layer.input_grid, layer.offset.shape)

- `records`: the typed records (the `LayerRecord` family: `DeformLayerRecord`; `ProbeResult`).
- `layer_index`: finding layers by any name, chains, labels (`LayerIndex`).
- `adapters`: which layer kinds are recognised and how their offsets are seen;
  `register_layer_adapter` for other kinds.
- `grids`: where each map's cells sit on the model input, from the network's conv arithmetic.
- `probe`: the forward pass with the hooks.
- `attention_probe` / `attention_adapters` / `attention_records`: the same for multi-scale
  deformable attention (Deformable DETR family): `probe_attention(model.eval(), inputs)`.
"""

from .adapters import (LayerAdapter, LayerSpec, from_forward_arguments, from_offset_hook,
                       from_submodule_output, register_layer_adapter, spec_from_attributes,
                       split_modulated, unregister_layer_adapter)
from .attention_adapters import AttentionAdapter, CoreCall, Slot
from .attention_probe import attention_layers, probe_attention
from .attention_records import AttentionProbeResult, AttentionRecord
from .layer_index import DEFAULT_CHAIN_LENGTH, LayerIndex, LayerNameError, paper_name
from .probe import ProbeError, deformable_layers, probe
from .records import DeformLayerRecord, LayerRecord, MapGrid, ProbeResult

__all__ = [
    "AttentionAdapter", "AttentionProbeResult", "AttentionRecord", "CoreCall", "Slot",
    "attention_layers", "probe_attention",
    "DEFAULT_CHAIN_LENGTH", "DeformLayerRecord", "LayerAdapter", "LayerIndex", "LayerNameError",
    "LayerRecord", "LayerSpec", "MapGrid", "ProbeError",
    "ProbeResult", "deformable_layers", "from_forward_arguments", "from_offset_hook",
    "from_submodule_output", "paper_name", "probe", "register_layer_adapter",
    "spec_from_attributes", "split_modulated", "unregister_layer_adapter",
]
