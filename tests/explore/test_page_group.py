"""The page follows the offset group it was written for (`explore --group G`): its JavaScript
reads group G's offset and mask channels, as `trace_chain(..., offset_group=G)` does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.explore import ExploreData, SampleCommand, write_page
from deformviz.explore.build import image_data_uri
from deformviz.geometry import ChainLayer, DeformLayerGeometry, chain_mappings, trace_chain
from deformviz.imaging import LoadedImage

from .browser import console_errors, open_page
from .test_page_geometry import IMAGE_SIZE, RESIZED, S8, S16, TOLERANCE, _layers

#: Every layer with two offset groups, so either can be followed through the chain.
GROUPED = [
    (DeformLayerGeometry(3, 2, 1, 1, 2), (20, 30), (10, 15), S8, S16),
    (DeformLayerGeometry(3, 1, 2, 2, 2), (10, 15), (10, 15), S16, S16),
]


def _data(group: int) -> ExploreData:
    pixels = np.random.default_rng(5).integers(0, 255, (*IMAGE_SIZE, 3), dtype=np.uint8)
    return ExploreData(image_name="synthetic.png", image_size=IMAGE_SIZE,
                       image_uri=image_data_uri(LoadedImage(pixels, "synthetic.png")),
                       model_name="synthetic", architecture="synthetic chain",
                       resized_size=RESIZED, layers=_layers(GROUPED, 5), levels=2, detections=(),
                       command=SampleCommand("synthetic.png"), group=group)


def _reference(layers, unit, levels, group):
    chain = [ChainLayer(DeformLayerGeometry(l.kernel_size, l.stride, l.padding, l.dilation,
                                            l.offset_groups),
                        torch.from_numpy(l.offset).double(), torch.from_numpy(l.mask).double(),
                        l.input_size, l.input_grid, l.output_grid) for l in layers]
    traced = trace_chain(chain, unit, levels, group)
    pixels = traced.to_image(chain_mappings(chain, traced, RESIZED, IMAGE_SIZE))
    return [p.flip(-1).numpy() for p in pixels], [w.numpy() for w in traced.weights]


@pytest.mark.parametrize("group", [0, 1])
def test_javascript_follows_the_pages_group(browser, tmp_path, group) -> None:
    data = _data(group)
    open_page(browser, write_page(data, tmp_path / f"group{group}.html"))
    assert console_errors(browser) == []
    for unit in ((0, 0), (5, 7), (9, 14)):
        shown = browser.execute_script(
            f"return window.deformvizExplore.trace({unit[0]}, {unit[1]}, 2)")
        points, weights = _reference(data.layers, unit, 2, group)
        for level in range(2):
            np.testing.assert_allclose(shown["levels"][level]["points"], points[level],
                                       atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(shown["levels"][level]["weights"], weights[level],
                                       atol=1e-9, rtol=0)
    other, _ = _reference(data.layers, (5, 7), 1, 1 - group)
    shown = browser.execute_script("return window.deformvizExplore.trace(5, 7, 1)")
    assert not np.allclose(shown["levels"][0]["points"], other[0], atol=TOLERANCE)


def test_a_group_the_chain_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match=r"group must be in 0..1"):
        _data(2)
