"""Targets for the dense heads and the RoI head."""

from __future__ import annotations

import torch

from deformviz.geometry import MapGrid
from deformviz.training.targets import box_iou, dense_targets, jitter_boxes, sample_rois

GRID = MapGrid(stride=16, origin=15.0)


def test_dense_target_peaks_at_the_centre_cell_with_size_and_offset():
    # Centre pixel index (x, y) = (79.5 - 0.5, 47.5 - 0.5) = (79, 47) -> cells (4, 2).
    boxes = [torch.tensor([[60.0, 30.0, 99.0, 65.0]])]
    targets = dense_targets(boxes, [torch.tensor([3])], 7, (16, 16), GRID)
    assert targets.heatmap[0, 3, 2, 4] == 1.0
    assert targets.heatmap[0, 3].sum() > 1.0 and targets.heatmap[0, :3].sum() == 0
    assert targets.mask[0].sum() == 1 and targets.mask[0, 2, 4]
    torch.testing.assert_close(targets.log_size[0, :, 2, 4], torch.tensor([39.0, 35.0]).log())
    torch.testing.assert_close(targets.center_offset[0, :, 2, 4], torch.tensor([0.0, 0.0]))


def test_jittered_boxes_stay_close_and_rois_are_labelled():
    generator = torch.Generator().manual_seed(0)
    gt = torch.tensor([[20.0, 20.0, 120.0, 100.0], [150.0, 150.0, 200.0, 230.0]])
    jittered = jitter_boxes(gt.repeat(50, 1), generator)
    assert box_iou(jittered, gt.repeat(50, 1)).diagonal().min() > 0.2
    samples = sample_rois([gt], [torch.tensor([1, 5])], 7, (256, 256), generator)
    foreground = samples.labels < 7
    assert foreground.any()
    assert set(samples.labels[foreground].tolist()) <= {1, 5}
    refined = samples.rois[foreground, 1:] + samples.box_targets[foreground] * (
        samples.rois[foreground, 3:] - samples.rois[foreground, 1:3]).repeat(1, 2)
    torch.testing.assert_close(refined, gt[samples.matched[foreground]])
    background = ~foreground
    if background.any():
        assert box_iou(samples.rois[background, 1:], gt).max() < 0.1
