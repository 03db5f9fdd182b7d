"""The weights that ship inside the package: they load offline, match their checksum, find the
objects of held-out scenes, and have learned non-trivial offsets."""

from __future__ import annotations

import pytest
import torch

from deformviz.evaluation import EvaluationConfig, evaluate
from deformviz.geometry.boxes import box_iou
from deformviz.models.registry import DEFAULT_MODEL, MODELS, load_model, sha256_of
from deformviz.scenes.dataset import SceneDataset, collate_scenes
from deformviz.scenes.generator import SceneConfig


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def held_out(model):
    """Eight scenes of the evaluation seed (training never sees seed 1), at the training size."""
    side = model.config.training_image_size
    scenes = SceneDataset(8, seed=1, config=SceneConfig(image_size=(side, side)), with_masks=False)
    return collate_scenes([scenes[i] for i in range(8)])


def test_every_registered_model_is_shipped_and_checksummed():
    assert DEFAULT_MODEL in MODELS and "lite0-plain-synth" in MODELS
    for entry in MODELS.values():
        assert entry.path.is_file()
        assert sha256_of(entry.path) == entry.sha256
        assert entry.path.stat().st_size < 12 * 2**20  # both together stay under 25 MB


def test_detections_find_the_objects_of_held_out_scenes(model, held_out):
    images, targets = held_out
    with torch.no_grad():
        dense = model(images)
    found = model.detect(dense, model.feature_grid(tuple(images.shape[-2:])), score_threshold=0.3)
    hits = total = 0
    for detections, target in zip(found, targets):
        total += len(target["boxes"])
        if len(detections.boxes) and len(target["boxes"]):
            iou = box_iou(target["boxes"], detections.boxes)
            same_class = target["labels"][:, None] == detections.labels[None, :]
            hits += int(((iou >= 0.5) & same_class).any(1).sum())
    assert total > 20
    assert hits / total >= 0.6, f"recall {hits}/{total}"


def test_learned_offsets_are_not_trivial(model, held_out):
    offsets = []
    handles = [layer.register_offset_hook(lambda m, offset, mask: offsets.append(offset))
               for layer in model.stage.layers]
    with torch.no_grad():
        model(held_out[0])
    for handle in handles:
        handle.remove()
    assert len(offsets) == 3
    for offset in offsets:
        assert offset.abs().mean() > 0.05  # feature cells


def test_the_twin_keeps_zero_offsets():
    twin = load_model("lite0-plain-synth")
    offsets = []
    twin.stage.layers[0].register_offset_hook(lambda m, offset, mask: offsets.append(offset))
    with torch.no_grad():
        twin(torch.rand(1, 3, 64, 64))
    assert offsets[0].abs().max() == 0


def test_shipped_network_shows_what_the_paper_shows(model):
    """On 32 held-out scenes (docs/MODEL_CARD.md has the full 300): sampling widens with the size
    of the object a unit sits on, and the deformable network beats its twin."""
    report = evaluate(model, load_model("lite0-plain-synth"), EvaluationConfig(scenes=32))
    table = report["effective_dilation"]
    for layer in ("res5a", "res5b", "res5c"):
        means = [table[layer][size]["mean"] for size in ("small", "medium", "large")]
        assert means == sorted(means), (layer, means)
    assert table["res5c"]["large"]["mean"] / table["res5c"]["small"]["mean"] >= 1.45
    assert report["detection"]["deformable"]["mAP50"] > report["detection"]["plain"]["mAP50"]
    assert report["roi"]["bin_centres_in_mask_deformed"] > report["roi"]["bin_centres_in_mask_regular"]
