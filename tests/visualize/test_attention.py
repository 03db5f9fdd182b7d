"""The attention path end to end on a real image and transformers' Deformable DETR (small
random config): processor -> probe_attention -> attention_queries -> figure and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.probe.attention_models import BACKBONE_STRIDES, deformable_detr

from deformviz.errors import InputError, OutputError
from deformviz.geometry.attention_locations import valid_boxes_to_original
from deformviz.imaging import load_image
from deformviz.plotting import render_figure
from deformviz.plotting.attention import plot_attention
from deformviz.probe.attention_probe import probe_attention
from deformviz.visualize.attention import attention_queries, valid_size
from deformviz.visualize.attention_export import save_attention_data
from deformviz.visualize.results import Detection

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def probed_chelsea():
    image = load_image("samples/chelsea.jpg")
    processor = transformers.DeformableDetrImageProcessorPil(
        size={"shortest_edge": 160, "longest_edge": 300})
    inputs = processor(images=[image.pixels], return_tensors="pt")
    inputs = {"pixel_values": inputs["pixel_values"].double(), "pixel_mask": inputs["pixel_mask"]}
    model = deformable_detr(box_refine=True, two_stage=True)
    probed = probe_attention(model, inputs, keep_outputs=True)
    resized = valid_size(inputs["pixel_mask"][0])
    return image, probed, resized


def test_query_points_in_original_pixels_and_json(probed_chelsea, tmp_path):
    image, probed, resized = probed_chelsea
    outputs = probed.outputs
    scores = outputs.logits[0].sigmoid().max(-1).values
    query = int(scores.argmax())
    box = valid_boxes_to_original(outputs.pred_boxes[0, query].numpy(), image.size)[0]
    layer = probed.stage("decoder")[-1]
    result = attention_queries(probed, image, layer=layer.name, queries=[query],
                               resized_size=resized, model_name="deformable-detr (random)",
                               detections={query: Detection(tuple(box), "class 0", 0.5)})
    path = save_attention_data(result, tmp_path / "attention.json")
    data = json.loads(path.read_text())
    unit = data["units"][0]
    assert unit["kind"] == "attention" and unit["query"] == query and unit["layer"] == layer.name
    assert unit["reference_type"] == "box" and len(unit["reference"]) == 4
    points, weights = np.array(unit["points"]), np.array(unit["weights"])
    assert points.shape == (layer.heads, layer.levels, layer.points, 2)
    assert np.allclose(weights.sum(axis=(1, 2)), 1.0)
    # the closed form written out here: normalised -> cell -> stride -> resize
    height, width = image.size
    for level, ((rows, cols), stride) in enumerate(zip(layer.spatial_shapes, BACKBONE_STRIDES)):
        loc = layer.locations[0, query, :, level].numpy()
        x = ((loc[..., 0] * cols - 0.5) * stride + 0.5) * width / resized[1] - 0.5
        y = ((loc[..., 1] * rows - 0.5) * stride + 0.5) * height / resized[0] - 0.5
        assert np.allclose(points[:, level, :, 0], x) and np.allclose(points[:, level, :, 1], y)
    assert data["conventions"]["points"].startswith("(x, y) original-image pixel")
    with pytest.raises(OutputError):
        save_attention_data(result, tmp_path / "attention.txt")


def test_figure_of_a_real_network(probed_chelsea):
    image, probed, resized = probed_chelsea
    layer = probed.stage("decoder")[-1]
    result = attention_queries(probed, image, layer=layer.name, queries=[0, 1],
                               resized_size=resized)
    figure = plot_attention(result, "cvpr-column", split="head")
    assert len([a for a in figure.axes if a.images]) == 2 * layer.heads
    assert render_figure(figure, "png", dpi=100)[:4] == b"\x89PNG"
    heaviest = max(float(u.weights.max()) for u in result.units)
    with pytest.raises(InputError, match="hides every"):
        plot_attention(result, threshold=(heaviest + 1) / 2)
    with pytest.raises(InputError, match="query 99"):
        attention_queries(probed, image, layer=layer.name, queries=[99])
    with pytest.raises(InputError, match="no deformable layer named .nope."):
        attention_queries(probed, image, layer="nope", queries=[0])


def test_encoder_query_reference_is_its_cell_centre(probed_chelsea):
    """Encoder query i of level 0 is cell (i // W, i % W): its reference lands on that cell's
    model-input pixel (stride 8, origin 0), mapped through the resize."""
    image, probed, resized = probed_chelsea
    layer = probed.stage("encoder")[0]
    rows, cols = layer.spatial_shapes[0]
    cell = 3 * cols + 5
    result = attention_queries(probed, image, layer=layer.name, queries=[cell],
                               resized_size=resized)
    x, y = result.units[0].reference
    height, width = image.size
    assert np.isclose(x, (5 * 8 + 0.5) * width / resized[1] - 0.5)
    assert np.isclose(y, (3 * 8 + 0.5) * height / resized[0] - 0.5)
    assert torch.isclose(layer.weights[0, cell].sum(), torch.tensor(2.0, dtype=torch.float64))
