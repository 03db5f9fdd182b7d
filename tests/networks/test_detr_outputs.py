"""DetrOutputsHead: detections read from DETR-style outputs, against transformers' own
post-processing of the same outputs (Deformable DETR's processor)."""

from __future__ import annotations

import pytest
import torch

from deformviz.networks.detr_outputs import DetrOutputsHead, class_names_of


def test_matches_the_processors_post_processing_query_by_query():
    transformers = pytest.importorskip("transformers")
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 30, 5, generator=generator) * 2
    boxes = torch.rand(1, 30, 4, generator=generator) * 0.5 + 0.25
    outputs = transformers.models.deformable_detr.modeling_deformable_detr \
        .DeformableDetrObjectDetectionOutput(logits=logits, pred_boxes=boxes)
    processor = transformers.DeformableDetrImageProcessor()
    theirs = processor.post_process_object_detection(outputs, threshold=0.3,
                                                     target_sizes=[(120, 200)], top_k=150)[0]
    ours = DetrOutputsHead().detect(outputs, (120, 200), 0.3, 50)
    assert ours is not None and len(ours.queries) > 3
    assert ours.scores.tolist() == sorted(ours.scores.tolist(), reverse=True)
    # Their top-k runs over (query, class) pairs; a query's best pair is ours.
    theirs_best: dict[tuple, tuple] = {}
    for score, label, box in zip(theirs["scores"], theirs["labels"], theirs["boxes"]):
        key = tuple(round(v, 3) for v in box.tolist())
        if key not in theirs_best or score > theirs_best[key][0]:
            theirs_best[key] = (float(score), int(label))
    assert len(theirs_best) == len(ours.queries)
    for box, score, label in zip(ours.boxes, ours.scores, ours.labels):
        key = tuple(round(v, 3) for v in box.tolist())
        assert theirs_best[key][1] == int(label)
        assert theirs_best[key][0] == pytest.approx(float(score), abs=1e-6)


def test_mapping_outputs_threshold_and_limit():
    logits = torch.tensor([[[0.0, 3.0], [2.0, -1.0], [-5.0, -5.0]]])
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.25, 0.75, 0.5, 0.5], [0.1, 0.1, 0.1, 0.1]]])
    found = DetrOutputsHead(("cat", "dog")).detect({"pred_logits": logits, "pred_boxes": boxes},
                                                   (100, 100), 0.5, 1)
    assert found.queries.tolist() == [0] and found.labels.tolist() == [1]
    assert found.boxes[0].tolist() == pytest.approx([40.0, 40.0, 60.0, 60.0], abs=1e-5)
    assert float(found.scores[0]) == pytest.approx(torch.sigmoid(torch.tensor(3.0)).item())


@pytest.mark.parametrize("outputs", [torch.zeros(1, 3, 4), {"pred_logits": torch.zeros(1, 3, 2)},
                                     {"logits": torch.zeros(1, 3, 2),
                                      "pred_boxes": torch.zeros(1, 4, 4)}])
def test_outputs_it_does_not_read_give_none(outputs):
    assert DetrOutputsHead().detect(outputs, (10, 10), 0.0, 5) is None


def test_class_names_from_the_module_or_its_config():
    module = torch.nn.Module()
    module.class_names = ("a", "b")
    assert class_names_of(module) == ("a", "b")
    holder = torch.nn.Module()
    holder.config = type("Config", (), {"id2label": {0: "person", 1: "car"}})()
    assert class_names_of(holder) == ("person", "car")
    assert class_names_of(torch.nn.Linear(2, 2)) == ()
