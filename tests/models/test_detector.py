"""The network's plumbing: feature grid, decoding, RoI head, export and loading."""

from __future__ import annotations

import pytest
import torch

from deformviz.models.detector import DeformableDetector, DetectorConfig
from deformviz.models.registry import (ModelEntry, ModelLoadError, MODELS, export_weights,
                                       load_export, load_model, register)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DeformableDetector().eval()


def test_feature_grid_follows_the_trunk(model):
    grid = model.feature_grid((256, 320))
    assert (grid.stride, grid.origin) == ((16.0, 16.0), (15.0, 15.0))
    assert model.feature_size((256, 320)) == (16, 20)
    with pytest.raises(ValueError, match="multiples of 16"):
        model.feature_grid((250, 320))


def test_detect_decodes_a_peak_into_a_box(model):
    grid = model.feature_grid((256, 256))
    dense = model(torch.rand(1, 3, 256, 256))
    dense.heatmap_logits.fill_(-10)
    dense.heatmap_logits[0, 4, 5, 7] = 5  # class 4 at cell (y=5, x=7)
    dense.center_offset.zero_()
    dense.log_size[0, :, 5, 7] = torch.tensor([40.0, 20.0]).log()
    found = model.detect(dense, grid, score_threshold=0.5)[0]
    assert found.labels.tolist() == [4]
    centre_x, centre_y = 16 * 7 + 15 + 0.5, 16 * 5 + 15 + 0.5  # continuous pixel centre
    torch.testing.assert_close(found.boxes[0], torch.tensor(
        [centre_x - 20, centre_y - 10, centre_x + 20, centre_y + 10]))


def test_classify_boxes_shapes(model):
    grid = model.feature_grid((256, 256))
    dense = model(torch.rand(2, 3, 256, 256))
    rois = torch.tensor([[0, 10.0, 10, 100, 120], [1, 50, 60, 200, 250]])
    probs, boxes = model.classify_boxes(dense.features, rois, grid)
    assert probs.shape == (2, len(model.class_names) + 1)
    torch.testing.assert_close(probs.sum(1), torch.ones(2))
    torch.testing.assert_close(boxes, rois[:, 1:])  # the box branch starts at zero


def test_twin_has_frozen_zero_offsets():
    twin = DeformableDetector(DetectorConfig(deformable=False))
    assert all(not p.requires_grad for layer in twin.stage.layers for p in layer.conv_offset.parameters())
    assert twin.roi_head.pool.offset_fc is None


def test_export_load_and_checksum(model, tmp_path):
    path = tmp_path / "model.pt"
    digest = export_weights(model, path)
    loaded = load_export(path)
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(loaded(x).heatmap_logits, model(x).heatmap_logits, rtol=2e-2, atol=2e-2)
    register(ModelEntry("test-entry", str(path), digest, "a test"))
    try:
        assert isinstance(load_model("test-entry"), DeformableDetector)
        register(ModelEntry("test-entry", str(path), "0" * 64, "a test"))
        with pytest.raises(ModelLoadError, match="checksum"):
            load_model("test-entry")
    finally:
        MODELS.pop("test-entry")
    with pytest.raises(ModelLoadError, match="unknown model"):
        load_model("no-such-model")
