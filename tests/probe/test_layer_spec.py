"""A LayerSpec (what a module says of itself) becomes the records' DeformLayerGeometry in one
place, G from the module or else from the offset's channels."""

from __future__ import annotations

import pytest

from deformviz.geometry import DeformLayerGeometry
from deformviz.probe import LayerSpec


def test_groups_from_the_module_or_the_offset_channels():
    said = LayerSpec(3, 2, 1, 1, offset_groups=4)
    assert said.geometry(72) == DeformLayerGeometry(3, 2, 1, 1, 4)
    silent = LayerSpec((3, 3), padding=1)  # torchvision keeps no offset_groups
    assert silent.geometry(36) == DeformLayerGeometry(3, 1, 1, 1, 2)
    with pytest.raises(ValueError, match="20 offset channels do not fit a 3x3 kernel"):
        silent.geometry(20)
