"""Choosing attention queries on a loaded Hugging Face folder: detections' decoder queries,
the encoder query at a pixel, one query through the decoder layers."""

from __future__ import annotations

import numpy as np
import pytest

from deformviz.errors import InputError, UnitError
from deformviz.imaging import LoadedImage
from deformviz.networks import load_network
from deformviz.visualize.attention_sampling import (_iou, attention_units, probe_attention_image,
                                                    through_layers)
from tests.networks.transformers_folders import write_folder


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    network = load_network(write_folder(tmp_path_factory.mktemp("hf") / "detr"))
    pixels = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    return probe_attention_image(network, LoadedImage(pixels, "random"), score_threshold=0.0)


def test_auto_takes_the_best_detections_queries(probed) -> None:
    result = attention_units(probed, auto=3)
    detected = probed.detected_queries()
    kept: list[int] = []  # greedy, best first: a box overlapping a kept one is skipped
    for query in detected:
        if all(_iou(detected[query].box, detected[k].box) <= 0.5 for k in kept):
            kept.append(query)
    assert [u.query for u in result.units] == kept[:3]
    boxes = [u.detection.box for u in result.units]
    assert all(_iou(a, b) <= 0.5 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(u.layer == "model.decoder.layers.1.encoder_attn" for u in result.units)
    for unit in result.units:
        assert unit.detection == detected[unit.query]
        assert unit.points.shape == (2, 4, 4, 2) and unit.reference_box is not None
    assert result.preprocessing["processor"].startswith("DeformableDetrImageProcessor")


def test_at_picks_the_nearest_encoder_cell_of_the_level(probed) -> None:
    for level, x, y in ((0, 50.0, 60.0), (1, 150.0, 20.0), (2, 10.0, 110.0)):
        unit = attention_units(probed, layer="encoder1", at=[(x, y)], level=level).units[0]
        # The encoder reference of a cell is its centre: within half a cell of the pixel,
        # in original pixels (the image is resized by 1.25 into the model input).
        stride = probed.probed.layer("encoder1").level_grids[level].stride[0] * 1.25
        assert abs(unit.reference[0] - x) <= stride / 2 + 1e-6
        assert abs(unit.reference[1] - y) <= stride / 2 + 1e-6
    with pytest.raises(UnitError, match="outside"):
        attention_units(probed, layer="encoder1", at=[(500.0, 5.0)])
    with pytest.raises(UnitError, match="decoder layer"):
        attention_units(probed, at=[(5.0, 5.0)])
    with pytest.raises(InputError, match="decoder queries"):
        attention_units(probed, layer="encoder0", auto=1)
    with pytest.raises(InputError, match="no queries"):
        attention_units(probed)


def test_through_layers_is_one_query_per_decoder_layer(probed) -> None:
    result = through_layers(probed, 4)
    assert [u.layer for u in result.units] == ["model.decoder.layers.0.encoder_attn",
                                                "model.decoder.layers.1.encoder_attn"]
    assert {u.query for u in result.units} == {4}
    first, second = (probed.probed.layer(u.layer) for u in result.units)
    assert not np.allclose(result.units[0].weights, result.units[1].weights)
    assert np.allclose(result.units[1].weights, second.weights[0, 4].numpy())
    assert np.allclose(result.units[0].weights, first.weights[0, 4].numpy())
