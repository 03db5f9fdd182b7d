"""capture_dense / capture_rois: one trunk pass, and offsets that are the operator's own."""

from __future__ import annotations

from pathlib import Path

import torch

from deformviz.capture import capture_dense, capture_rois
from deformviz.imaging import load_image, prepare_for_model
from deformviz.ops import deform_conv2d
from deformviz.visualize import roi_bins, sample_locations


def _count_trunk_calls(model) -> list[int]:
    calls = [0]
    model.trunk.register_forward_hook(lambda *args: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_capture_holds_each_layers_offsets(test_model, samples: Path) -> None:
    image = prepare_for_model(load_image(samples / "chelsea.jpg"), 256)
    capture = capture_dense(test_model, image.tensor)
    assert capture.layer_names == ("res5a", "res5b", "res5c")
    h, w = capture.feature_size
    assert (h, w) == (11, 16)
    assert [tuple(o.shape) for o in capture.offsets] == [(18, h, w)] * 3
    assert all(m is None for m in capture.masks)
    # The captured offsets are what each layer's offset branch predicts from its input.
    inputs = []
    handle = test_model.stage.layers[0].register_forward_hook(lambda m, i, o: inputs.append(i[0]))
    with torch.no_grad():
        test_model(image.tensor)
    handle.remove()
    with torch.no_grad():
        torch.testing.assert_close(test_model.stage.layers[0].conv_offset(inputs[0])[0],
                                   capture.offsets[0])
    assert capture.offsets[2].abs().mean() > 0.1  # non-trivial offsets in the test model


def test_level_one_points_are_what_deform_conv2d_sampled(test_model, samples: Path) -> None:
    """Feed coordinate planes through the top layer with its captured offsets: the operator's
    bilinear samples of the planes are its sampling positions, which must equal level 1."""
    image = prepare_for_model(load_image(samples / "coffee.jpg"), 256)
    capture = capture_dense(test_model, image.tensor)
    layer, offset = capture.layers[-1], capture.offsets[-1].double()
    h, w = capture.feature_size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    planes = torch.stack([ys, xs])[None]  # [1, 2, h, w]: channel 0 = y, 1 = x
    weight = torch.zeros(18, 2, 3, 3, dtype=torch.float64)
    for k in range(9):  # output 2k + c = coordinate c sampled by tap k alone
        for c in range(2):
            weight[2 * k + c, c, k // 3, k % 3] = 1
    sampled = deform_conv2d(planes, offset[None], weight, padding=layer.padding,
                            dilation=layer.dilation)[0]  # [18, h, w]
    from deformviz.geometry import trace_sampling_locations

    checked = 0
    for y in range(h):
        for x in range(w):
            points = trace_sampling_locations(capture.layers, [o.double() for o in capture.offsets],
                                              (y, x), levels=1).points[0]  # [9, 2] (y, x)
            operator = sampled[:, y, x].reshape(9, 2)
            # Bilinear sampling of a linear plane is exact where all 4 neighbours are inside.
            inside = ((points[:, 0] >= 0) & (points[:, 0] <= h - 1)
                      & (points[:, 1] >= 0) & (points[:, 1] <= w - 1))
            torch.testing.assert_close(operator[inside], points[inside])
            checked += int(inside.sum())
    assert checked > 0.5 * 9 * h * w


def test_levels_give_9_81_729_points(test_model, samples: Path) -> None:
    result = sample_locations(test_model, samples / "chelsea.jpg", at=[(200, 150)], levels=3,
                              long_side=256)
    (sampling,) = result.samplings
    assert [p.shape for p in sampling.points] == [(9, 2), (81, 2), (729, 2)]
    assert result.layer_names[-1] == "res5c"


def test_roi_bins_run_the_trunk_once(test_model, samples: Path) -> None:
    calls = _count_trunk_calls(test_model)
    try:
        result = roi_bins(test_model, samples / "chelsea.jpg", [[40, 60, 300, 280]], long_side=256)
    finally:
        test_model.trunk._forward_hooks.clear()
    assert calls[0] == 1 and len(result.boxes) == 1


def test_capture_rois_reports_the_shifted_boxes(test_model, samples: Path) -> None:
    image = prepare_for_model(load_image(samples / "chelsea.jpg"), 256)
    capture = capture_dense(test_model, image.tensor)
    boxes = torch.tensor([[10.0, 20.0, 100.0, 120.0], [0.0, 0.0, 256.0, 176.0]])
    rois = capture_rois(test_model, capture, boxes)
    torch.testing.assert_close(rois.pool_boxes, capture.grid.boxes_for_roi_pool(boxes))
    assert rois.offsets.shape == (2, 2, 3, 3) and rois.probs.shape[0] == 2
    torch.testing.assert_close(rois.probs.sum(1), torch.ones(2))
