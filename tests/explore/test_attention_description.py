"""The attention explore page's data (Python side): what it embeds for each detection's decoder
query and each encoder cell equals what `attention_units` (what `sample` draws) gives for the
same query, to 1e-3 px; which layers and levels it carries; its size."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from deformviz.errors import InputError
from deformviz.explore import describe_attention_image, render_page
from deformviz.explore.attention_build import ENCODER_BUDGET, default_encoder_levels
from deformviz.imaging import LoadedImage
from deformviz.networks import load_network
from deformviz.visualize.attention_sampling import attention_units, probe_attention_image

from .attention_page import TOLERANCE, decoded, unit_points, write_folder


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return load_network(write_folder(tmp_path_factory.mktemp("hf") / "detr"))


@pytest.fixture(scope="module")
def image() -> LoadedImage:
    pixels = np.random.default_rng(3).integers(0, 255, (130, 210, 3), dtype=np.uint8)
    return LoadedImage(pixels, "random.png")


@pytest.fixture(scope="module")
def probed(network, image):
    return probe_attention_image(network, image, score_threshold=0.0)


@pytest.fixture(scope="module")
def page(network, image) -> dict:
    data = describe_attention_image(network, image, image_argument="random.png",
                                    command_arguments=["--model", "detr"], score_threshold=0.0,
                                    max_boxes=4, encoder_levels="all")
    return json.loads(data.to_json())


def test_decoder_queries_are_the_detections_in_every_decoder_layer(page, probed) -> None:
    detections = page["detections"]
    assert 1 <= len(detections) <= 4
    detected = probed.detected_queries()
    # The queries `sample --auto 4` draws: distinct objects, best first.
    assert [d["query"] for d in detections] == [u.query for u in
                                                attention_units(probed, auto=4).units]
    for d in detections:
        assert d["box"] == pytest.approx(list(detected[d["query"]].box))
    assert [layer["label"] for layer in page["decoder"]] == ["decoder0", "decoder1"]
    assert page["decoder_shown"] == 1
    for layer in page["decoder"]:
        (block,) = layer["blocks"]
        assert block["queries"] == [d["query"] for d in detections]
        points, weights = decoded(block["points"]), decoded(block["weights"])
        references = decoded(block["references"])
        for n, query in enumerate(block["queries"]):
            _, expected, expected_weights, reference = unit_points(probed, layer["name"],
                                                                   queries=[query])
            np.testing.assert_allclose(points[n], expected, atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(weights[n], expected_weights, atol=1e-6, rtol=0)
            np.testing.assert_allclose(references[n], reference, atol=TOLERANCE, rtol=0)


def test_every_encoder_cell_is_the_query_sample_at_picks(page, probed) -> None:
    encoder = page["encoder"]
    assert encoder["label"] == "encoder1" and encoder["levels"] == [0, 1, 2, 3]
    ry, rx = page["resize"]
    for level, block in zip(encoder["levels"], encoder["blocks"]):
        spec = page["levels"][level]
        height, width = spec["shape"]
        assert len(block["queries"]) == height * width
        points, weights = decoded(block["points"]), decoded(block["weights"])
        rng = np.random.default_rng(level)
        for n in {0, height * width - 1, *rng.integers(0, height * width, 6).tolist()}:
            row, col = divmod(n, width)
            # The cell's centre in original pixels, as the page names it in `--at X Y`.
            x = (col * spec["stride"][1] + spec["origin"][1] + 0.5) * rx - 0.5
            y = (row * spec["stride"][0] + spec["origin"][0] + 0.5) * ry - 0.5
            x = min(max(x, 0.0), page["image"]["width"] - 0.01)
            y = min(max(y, 0.0), page["image"]["height"] - 0.01)
            query, expected, expected_weights, _ = unit_points(
                probed, encoder["name"], at=[(x, y)], level=level)
            assert block["queries"][n] == query
            np.testing.assert_allclose(points[n], expected, atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(weights[n], expected_weights, atol=1e-6, rtol=0)


def test_layers_and_levels_chosen(network, image) -> None:
    data = describe_attention_image(network, image, image_argument="x.png",
                                    layers=["encoder0", "decoder0"], encoder_levels=[2, 3],
                                    score_threshold=0.0, max_boxes=2)
    assert data.encoder.label == "encoder0" and data.encoder.levels == (2, 3)
    assert data.decoder_shown == 0 and len(data.decoder) == 2
    cells = sum(h * w for h, w in data.level_shapes[2:])
    assert data.nbytes == 4 * (cells * (3 * 2 * 4 * 4 + 2) + 2 * 2 * (3 * 2 * 4 * 4 + 2))
    html = render_page(data)
    assert b'"kind":"attention"' in html and b"function encoderQueryAt" in html
    assert b"function traceUnit" not in html  # the convolution page's script


@pytest.mark.parametrize("arguments, message", [
    (dict(layers=["encoder0", "encoder1"]), "one encoder layer"),
    (dict(layers=["nope"]), "nope"),
    (dict(encoder_levels=[4]), "level 5 outside 1..4"),
    (dict(score_threshold=1.0, layers=["decoder1"]), "no detections above"),
])
def test_bad_choices_say_what_is_wrong(network, image, arguments, message) -> None:
    options = dict(score_threshold=0.0) | arguments
    with pytest.raises(InputError, match=message):
        describe_attention_image(network, image, image_argument="x.png", **options)


def test_without_detections_the_page_shows_the_encoder(network, image) -> None:
    data = describe_attention_image(network, image, image_argument="x.png", score_threshold=1.0)
    assert data.decoder == () and data.detections == () and data.encoder is not None


def test_default_levels_fit_the_budget() -> None:
    detr_800 = SimpleNamespace(heads=8, levels=4, points=4,
                               spatial_shapes=((100, 134), (50, 67), (25, 34), (13, 17)))
    assert default_encoder_levels(detr_800) == (1, 2, 3)
    assert default_encoder_levels(detr_800, budget=10 ** 9) == (0, 1, 2, 3)
    assert default_encoder_levels(detr_800, budget=1) == (3,)  # always the coarsest
    per_cell = 4 * (3 * 8 * 4 * 4 + 2)
    assert (50 * 67 + 25 * 34 + 13 * 17) * per_cell <= ENCODER_BUDGET \
        < (100 * 134 + 50 * 67 + 25 * 34 + 13 * 17) * per_cell


def test_levels_with_fewer_points_carry_nan_padding(image) -> None:
    """D-FINE (3, 6, 3 points per level): the page's padded points are NaN with weight 0 (the
    page never draws them), the real ones are `attention_units`'s."""
    pytest.importorskip("transformers")
    from deformviz.networks import as_network
    from deformviz.networks.preprocessing import IMAGENET_RGB
    from tests.probe.attention_models import d_fine

    network = as_network(d_fine(points=[3, 6, 3]).float(), IMAGENET_RGB)
    data = json.loads(describe_attention_image(network, image, image_argument="x.png",
                                               score_threshold=0.0, max_boxes=1).to_json())
    assert data["encoder"] is None  # RT-DETR family: only the decoder is deformable
    layer = data["decoder"][-1]
    (block,) = layer["blocks"]
    points, weights = decoded(block["points"])[0], decoded(block["weights"])[0]
    assert points.shape[1:] == (3, 6, 2)
    real = np.isfinite(points[..., 0])
    assert real.sum(axis=(0, 2)).tolist() == [2 * 3, 2 * 6, 2 * 3]
    assert (weights[~real] == 0).all()
    probed = probe_attention_image(network, image, score_threshold=0.0)
    _, expected, _, _ = unit_points(probed, layer["name"], queries=block["queries"])
    np.testing.assert_allclose(points[real], expected[real], atol=TOLERANCE, rtol=0)
