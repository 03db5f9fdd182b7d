"""Sampling geometry of deformable networks: where the learned offsets make filters look.

Pure tensor arithmetic on captured offsets; no model is run and nothing is drawn here.

- `layers`: one deformable layer's geometry (arithmetic only).
- `feature_to_image`: feature cells <-> original pixels (a map's grid, then the `ImageResize`).
- `interpolation`: reading offset/mask maps at fractional positions (DCNv2 border rule).
- `traced_locations`: the record of a unit's sampling points, level by level.
- `sampling_locations`: a unit's 9 / 81 / 729 sampling points through stacked layers (Fig. 6).
- `map_grid`: where a map's cells sit on the model input (stride and origin from conv arithmetic).
- `chain`: sampling points through the deformable layers of a real network, with the rigid
  steps between them (any strides, paddings, dilations and kernel sizes).
- `roi_bins`: regular and deformed RoI-pooling bins (Fig. 7).
- `effective_dilation`: mean adjacent-tap distance of a filter (Table 2).

Points are (y, x) in index coordinates; boxes are (x1, y1, x2, y2).
"""

from .chain import (ChainLayer, carry_down, chain_mappings, filter_points, grid_mapping,
                    trace_chain, unit_mapping)
from .effective_dilation import filter_effective_dilation, layer_effective_dilation
from .interpolation import inside_map, read_bilinear
from .feature_to_image import FeatureToImage
from .layers import DeformLayerGeometry
from .map_grid import MapGrid
from .roi_bins import RoIBins, deformed_roi_bins
from .sampling_locations import trace_sampling_locations
from .traced_locations import SamplingLocations

__all__ = [
    "ChainLayer",
    "MapGrid",
    "carry_down",
    "filter_points",
    "chain_mappings",
    "grid_mapping",
    "trace_chain",
    "unit_mapping",
    "DeformLayerGeometry",
    "FeatureToImage",
    "RoIBins",
    "SamplingLocations",
    "deformed_roi_bins",
    "filter_effective_dilation",
    "inside_map",
    "layer_effective_dilation",
    "read_bilinear",
    "trace_sampling_locations",
]
