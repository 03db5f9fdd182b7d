"""The page's JavaScript geometry against deformviz.geometry, in a real browser, on synthetic
chains that the bundled network does not exercise: DCNv2 masks, two offset groups, a stride-2
bottom layer, offsets large enough to leave the maps, a non-trivial resize, and a rigid step
between layers whose grids differ (a stride-2 1x1 between them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformviz.explore import ExploreData, ExploreLayer, SampleCommand, write_page
from deformviz.explore.build import image_data_uri
from deformviz.geometry import (ChainLayer, DeformLayerGeometry, FeatureToImage, MapGrid,
                                chain_mappings, filter_effective_dilation, trace_chain)
from deformviz.imaging import LoadedImage
from deformviz.visualize.units import unit_at

from .browser import console_errors, network_requests, open_page

IMAGE_SIZE = (200, 300)      # original (H, W)
RESIZED = (160, 240)         # model input: resize 1.25 per axis
TOLERANCE = 0.01             # pixels

# (geometry, input size, output size, input grid, output grid); bottom to top.
S8, S16, S32 = MapGrid(8, 3.5), MapGrid(16, 7.5), MapGrid(32, 15.5)
CHAIN = [
    (DeformLayerGeometry(3, 2, 1, 1, 1), (20, 30), (10, 15), S8, S16),
    (DeformLayerGeometry(3, 1, 2, 2, 2), (10, 15), (10, 15), S16, S16),
    (DeformLayerGeometry((3, 3), 1, 1, 1, 1), (10, 15), (10, 15), S16, S16),
]
# The same, with a stride-2 1x1 between the two upper layers: the top works at stride 32.
STEPPED = CHAIN[:2] + [(DeformLayerGeometry(3, 1, 1, 1, 1), (5, 8), (5, 8), S32, S32)]


def _layers(chain, seed: int) -> tuple[ExploreLayer, ...]:
    generator = np.random.default_rng(seed)
    layers = []
    for index, (geometry, input_size, output_size, input_grid, output_grid) in enumerate(chain):
        offset = generator.normal(0, 2.5, (geometry.offset_channels, *output_size))
        mask = generator.uniform(0, 1, (geometry.mask_channels, *output_size))
        layers.append(ExploreLayer(
            f"net.layer{index}", f"layer{index}", geometry.kernel_size, geometry.stride,
            geometry.padding, geometry.dilation, geometry.offset_groups, input_size, output_size,
            input_grid, output_grid, offset.astype(np.float32), mask.astype(np.float32)))
    return tuple(layers)


def _data(chain, seed: int) -> ExploreData:
    pixels = np.random.default_rng(seed).integers(0, 255, (*IMAGE_SIZE, 3), dtype=np.uint8)
    image = LoadedImage(pixels, "synthetic.png")
    return ExploreData(image_name="synthetic.png", image_size=IMAGE_SIZE,
                       image_uri=image_data_uri(image), model_name="synthetic",
                       architecture="synthetic chain", resized_size=RESIZED,
                       layers=_layers(chain, seed), levels=3, detections=(),
                       command=SampleCommand("synthetic.png"))


def _reference(layers: tuple[ExploreLayer, ...], unit: tuple[int, int], levels: int):
    """Points (original pixels, (x, y)), weights per level and the effective dilation, from
    deformviz.geometry (`trace_chain`, with the rigid steps between layers), in float64 on
    the page's float32 maps."""
    chain = [ChainLayer(DeformLayerGeometry(l.kernel_size, l.stride, l.padding, l.dilation,
                                            l.offset_groups),
                        torch.from_numpy(l.offset).double(), torch.from_numpy(l.mask).double(),
                        l.input_size, l.input_grid, l.output_grid) for l in layers]
    traced = trace_chain(chain, unit, levels)
    pixels = traced.to_image(chain_mappings(chain, traced, RESIZED, IMAGE_SIZE))
    dilation = filter_effective_dilation(traced.points[0], chain[-1].geometry.kernel_size)
    return ([p.flip(-1).numpy() for p in pixels], [w.numpy() for w in traced.weights],
            float(dilation))


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("geometry")
    return {name: (write_page(_data(chain, seed), folder / f"{name}.html"), _data(chain, seed))
            for name, chain, seed in (("chained", CHAIN, 1), ("stepped", STEPPED, 2))}


@pytest.mark.parametrize("name", ["chained", "stepped"])
def test_javascript_points_equal_the_python_geometry(browser, pages, name) -> None:
    path, data = pages[name]
    open_page(browser, path)
    assert console_errors(browser) == []
    top = data.layers[-1].output_size
    units = [(0, 0), (top[0] - 1, top[1] - 1), (top[0] // 2, top[1] // 2), (1, top[1] - 2),
             (top[0] - 1, 0)]
    for unit in units:
        for levels in (1, 2, 3):
            shown = browser.execute_script(
                f"return window.deformvizExplore.trace({unit[0]}, {unit[1]}, {levels})")
            points, weights, dilation = _reference(data.layers, unit, levels)
            assert len(shown["levels"]) == levels
            for level in range(levels):
                np.testing.assert_allclose(shown["levels"][level]["points"], points[level],
                                           atol=TOLERANCE, rtol=0)
                np.testing.assert_allclose(shown["levels"][level]["weights"], weights[level],
                                           atol=1e-9, rtol=0)
            assert shown["effectiveDilation"] == pytest.approx(dilation, abs=1e-9)
    # The offsets reach past the maps: some points are outside, so the border rule was tested.
    deepest = browser.execute_script("return window.deformvizExplore.trace(0, 0, 3)")
    assert not all(deepest["levels"][2]["active"])
    assert network_requests(browser) == []


def test_pointer_picks_the_nearest_unit_as_the_python_api(browser, pages) -> None:
    path, data = pages["stepped"]
    open_page(browser, path)
    top = data.layers[-1]
    mapping = FeatureToImage.from_sizes(top.output_grid.stride, RESIZED, IMAGE_SIZE,
                                        top.output_grid.origin)
    pixels = np.random.default_rng(3).uniform(0, 1, (200, 2)) * [IMAGE_SIZE[1] - 0.01,
                                                                  IMAGE_SIZE[0] - 0.01]
    pixels = np.concatenate([pixels, [[0, 0], [IMAGE_SIZE[1] - 0.01, IMAGE_SIZE[0] - 0.01]]])
    cells = browser.execute_script(
        "return arguments[0].map(p => window.deformvizExplore.cellAt(p[0], p[1]))",
        pixels.tolist())
    expected = [list(unit_at(float(x), float(y), mapping, top.output_size, IMAGE_SIZE).cell)
                for x, y in pixels]
    assert cells == expected
    assert console_errors(browser) == []
