"""Statistics of a deformable-attention model (a small random Deformable DETR folder built in
code): each counted query's spread and inside share equal an independent computation from
`attention_units`, the table is the exact mean of those, and shards, resumed runs and merges
give the one run's table byte for byte."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from deformviz.errors import InputError
from deformviz.imaging import load_image
from deformviz.networks import load_network
from deformviz.probe import LayerNameError
from deformviz.statistics import StatsOptions, StatsResult, merge_results, read_coco, run_statistics
from deformviz.statistics.attention_accumulators import AttentionAccumulator
from deformviz.statistics.attention_network import AttentionNetwork
from deformviz.statistics.attention_queries import image_query_values
from deformviz.statistics.detection_matching import match_detections
from deformviz.statistics.loader import objects_of
from deformviz.statistics.results import ResultError
from deformviz.statistics.size_classes import CLASSES, ImageObjects, SizeThresholds
from deformviz.visualize.attention_sampling import attention_units, probe_attention_image
from tests.networks.transformers_folders import write_folder
from tests.statistics.attention_datasets import MATCH_IOU, write_attention_dataset

THRESHOLDS = SizeThresholds(24.0 ** 2, 60.0 ** 2)  # the tiny images hold all three classes


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return load_network(write_folder(tmp_path_factory.mktemp("hf") / "detr"))


@pytest.fixture(scope="module")
def dataset(network, tmp_path_factory):
    folder = tmp_path_factory.mktemp("attention_scenes")
    write_attention_dataset(folder, network)
    return read_coco(folder / "instances.json", folder)


def _statistics(network, **options) -> AttentionNetwork:
    return AttentionNetwork(network, "detr", score_threshold=0.0, match_iou=MATCH_IOU, **options)


def _independent(unit, box, mask, area) -> tuple[float, float, float]:
    """Spread, relative spread and inside share of one query from `attention_units`' output,
    point by point (mask: None, or the object's MaskCrop)."""
    rx, ry = unit.reference
    total = weighted = inside = 0.0
    for (x, y), w in zip(unit.points[unit.point_mask], unit.weights[unit.point_mask]):
        total += w
        weighted += w * math.hypot(x - rx, y - ry)
        cx, cy = x + 0.5, y + 0.5  # index -> continuous coordinates
        if mask is None:
            hit = box[0] <= cx < box[2] and box[1] <= cy < box[3]
        else:
            hit = bool(mask.contains(np.array([math.floor(cy)]), np.array([math.floor(cx)]))[0])
        inside += w * hit
    spread = weighted / total
    return spread, spread / math.sqrt(area), inside / total


@pytest.mark.parametrize("use_mask", [False, True])
def test_each_query_and_the_table_match_an_independent_computation(network, dataset, use_mask):
    image = dataset.images[0]
    loaded = load_image(image.path)
    probed = probe_attention_image(network, loaded, score_threshold=0.0,
                                   max_detections=1000)
    objects = objects_of(image, loaded.size, use_mask)
    d = probed.detections
    names = ["model.encoder.layers.1.self_attn", "model.decoder.layers.1.encoder_attn"]
    values = image_query_values(probed.probed, names, d.boxes, d.queries, objects, THRESHOLDS,
                                probed.prepared.resized_size, use_mask, MATCH_IOU)
    # The object of each detection's query: the matching rule over all detections, best first
    # (tested on its own below).
    detected = probed.detected_queries()
    found = match_detections(torch.tensor([box.box for box in detected.values()]), objects,
                             MATCH_IOU)
    object_of_query = {q: int(f) for q, f in zip(detected, found) if f >= 0}
    assert values[names[1]].queries.tolist() == list(object_of_query)
    assert len(object_of_query) >= 2  # the dataset's objects grew from the best two detections
    encoder = values[names[0]]
    assert all(int((encoder.classes == k).sum()) > 0 for k in range(3 if not use_mask else 2))
    accumulator = AttentionAccumulator(("encoder1", "decoder1"))
    for label, name in zip(accumulator.layers, names):
        layer = values[name]
        accumulator.add(label, layer)
        units = attention_units(probed, layer=name, queries=layer.queries.tolist()).units
        expected = []
        for index, unit in enumerate(units):
            klass = int(layer.classes[index])
            if CLASSES[klass] == "background":
                spread = _independent(unit, (0, 0, 0, 0), None, 1.0)[0]
                assert abs(layer.spread_px[index] - spread) < 1e-9 * spread
                assert math.isnan(layer.spread_relative[index]) and math.isnan(layer.inside_share[index])
                expected.append((klass, spread, None, None))
                continue
            which = object_of_query[unit.query] if name == names[1] else \
                _object_under(probed, name, unit.query, objects, use_mask)
            assert klass == int(THRESHOLDS.classify(objects.areas[which:which + 1])[0])
            mask = objects.masks[which] if use_mask else None
            numbers = _independent(unit, objects.boxes[which].tolist(), mask, float(objects.areas[which]))
            got = (layer.spread_px[index], layer.spread_relative[index], layer.inside_share[index])
            assert np.allclose(got, numbers, rtol=1e-12, atol=1e-12), (got, numbers)
            expected.append((klass, *numbers))
        summary = accumulator.summary()[label]
        for klass, name_of_class in enumerate(CLASSES):
            mine = [e for e in expected if e[0] == klass]
            entry = summary[name_of_class]["spread_px"]
            assert entry["queries"] == len(mine)
            if mine:
                assert entry["mean"] == pytest.approx(np.mean([e[1] for e in mine]), rel=1e-12)
            if mine and name_of_class != "background":
                share = summary[name_of_class]["inside_share"]["mean"]
                assert share == pytest.approx(np.mean([e[3] for e in mine]), rel=1e-12, abs=1e-15)
    assert all(float(layer.inside_share.nansum()) > 0 for layer in values.values())


def test_levels_with_fewer_points_add_nothing(tmp_path):
    # D-FINE with 2, 4 and 3 points on its levels: the padded places (NaN, weight 0) are left
    # out, the real points counted exactly as above.
    network = load_network(write_folder(tmp_path / "dfine", "d_fine"))
    dataset = read_coco(write_attention_dataset(tmp_path / "scenes", network, sizes=((96, 96),)),
                        tmp_path / "scenes")
    image = dataset.images[0]
    loaded = load_image(image.path)
    probed = probe_attention_image(network, loaded, score_threshold=0.0, max_detections=1000)
    objects = objects_of(image, loaded.size, False)
    d = probed.detections
    name = "model.decoder.layers.1.encoder_attn"
    assert probed.probed.layer(name).level_points == (2, 4, 3)
    layer = image_query_values(probed.probed, [name], d.boxes, d.queries, objects, THRESHOLDS,
                               probed.prepared.resized_size, False, MATCH_IOU)[name]
    assert len(layer.queries) >= 2
    detected = probed.detected_queries()
    found = match_detections(torch.tensor([box.box for box in detected.values()]), objects,
                             MATCH_IOU)
    object_of_query = {q: int(f) for q, f in zip(detected, found) if f >= 0}
    units = attention_units(probed, layer=name, queries=layer.queries.tolist()).units
    for index, unit in enumerate(units):
        which = object_of_query[unit.query]
        numbers = _independent(unit, objects.boxes[which].tolist(), None,
                               float(objects.areas[which]))
        got = (layer.spread_px[index], layer.spread_relative[index], layer.inside_share[index])
        assert np.allclose(got, numbers, rtol=1e-12, atol=1e-12), (got, numbers)


def _object_under(probed, name: str, query: int, objects: ImageObjects, use_mask: bool) -> int:
    """The object an encoder query's cell sits on, found again: the cell's centre (its level's
    grid, resized to the original) in the smallest non-crowd box, or mask with `use_mask`."""
    record = probed.probed.layer(name)
    level = max(k for k, start in enumerate(record.level_start) if start <= query)
    row, col = divmod(query - record.level_start[level], record.spatial_shapes[level][1])
    grid = record.level_grids[level]
    ry, rx = probed.prepared.resize
    y = (row * grid.stride[0] + grid.origin[0] + 0.5) * ry  # continuous original pixels
    x = (col * grid.stride[1] + grid.origin[1] + 0.5) * rx
    containing = []
    for i in range(len(objects)):
        x1, y1, x2, y2 = objects.boxes[i].tolist()
        mask = objects.masks[i] if use_mask else None
        inside = (x1 <= x < x2 and y1 <= y < y2) if mask is None else \
            bool(mask.contains(np.array([math.floor(y)]), np.array([math.floor(x)]))[0])
        if inside and not objects.crowd[i]:
            containing.append(i)
    return min(containing, key=lambda i: float(objects.areas[i]))


def test_matching_is_greedy_by_score_one_query_per_object_crowd_never():
    objects = ImageObjects(
        (100, 100), torch.tensor([[0., 0., 40., 40.], [50., 50., 90., 90.], [0., 60., 30., 90.]],
                                 dtype=torch.float64),
        torch.tensor([1600., 1600., 900.], dtype=torch.float64),
        torch.tensor([False, False, True]), (None, None, None))
    boxes = torch.tensor([[0., 0., 40., 38.],      # object 0
                          [0., 0., 40., 40.],      # object 0 again: taken, so nothing
                          [52., 50., 90., 90.],    # object 1
                          [0., 60., 30., 90.],     # the crowd region: never matched
                          [60., 60., 70., 70.]])   # object 1 at IoU 0.06: nothing
    assert match_detections(boxes, objects).tolist() == [0, -1, 1, -1, -1]
    assert match_detections(boxes[4:], objects, min_iou=0.05).tolist() == [1]


def test_shards_and_a_resumed_run_give_the_one_runs_table(network, dataset, tmp_path):
    statistics = _statistics(network)
    options = StatsOptions(THRESHOLDS, use_mask=True)
    whole = run_statistics(statistics, dataset, options, workers=0)
    document = whole.to_json()
    assert document["settings"]["family"] == "attention"
    assert document["settings"]["stages"] == ["encoder", "decoder"]
    assert set(document["attention"]) == {"encoder1", "decoder1"}
    decoder = document["attention"]["decoder1"]
    assert sum(decoder[name]["spread_px"]["queries"] for name in CLASSES) >= 2 * len(dataset.images)
    assert decoder["background"]["spread_px"]["queries"] == 0  # matched queries have objects
    parts = [run_statistics(statistics, dataset, options, shard=(i, 2), workers=1) for i in (2, 1)]
    assert merge_results(parts).to_bytes() == whole.to_bytes()
    again = merge_results([StatsResult.from_json(json.loads(p.to_bytes())) for p in parts])
    assert again.to_bytes() == whole.to_bytes()

    state = tmp_path / "run.partial.json"

    def stop_after_two(result):
        if len(result.finished) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_statistics(statistics, dataset, options, state_path=state, checkpoint_every=1,
                       workers=0, on_image=stop_after_two)
    assert len(json.loads(state.read_text())["exact"]["finished"]) == 2
    resumed = run_statistics(statistics, dataset, options, state_path=state, workers=0)
    assert resumed.to_bytes() == whole.to_bytes()
    with pytest.raises(ResultError, match="other settings"):
        run_statistics(_statistics(network, layers=["decoder0"]), dataset, options,
                       state_path=state, workers=0)


def test_attention_and_convolution_tables_never_merge(network, dataset):
    attention = run_statistics(_statistics(network), dataset, workers=0, limit=1)
    attention.limit = None  # a whole run as far as merging goes
    convolution = copy.deepcopy(attention)
    convolution.attention = None
    with pytest.raises(ResultError, match="attention layers and .* convolution layers; they cannot be merged"):
        merge_results([convolution, attention], ["conv.json", "attention.json"])


def test_layers_by_name_and_what_is_refused(network, dataset):
    statistics = _statistics(network, layers=["decoder0", "encoder0"])
    assert statistics.layer_names == ("encoder0", "decoder0")  # execution order
    assert statistics.stages == ("encoder", "decoder")
    with pytest.raises(LayerNameError, match="no deformable layer named 'decoder7'"):
        _statistics(network, layers=["decoder7"])
    with pytest.raises(LayerNameError, match="named twice"):
        _statistics(network, layers=["decoder1", "model.decoder.layers.1.encoder_attn"])
    with pytest.raises(InputError, match="one image at a time"):
        run_statistics(statistics, dataset, workers=0, batch_size=2)
    with pytest.raises(InputError, match="score threshold 2"):
        AttentionNetwork(network, "detr", score_threshold=2.0)
