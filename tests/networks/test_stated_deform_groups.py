"""An offset conv whose channel count fits DCNv1 and DCNv2 (54 = 3 x 18 = 2 x 27) is settled by
the embedded config's `dcn=dict(type=..., deform_groups=...)`, and `inspect` says so."""

from __future__ import annotations

import pytest
import torch

from deformviz.errors import CheckpointError
from deformviz.networks import load_network, probe_network
from tests.networks.published_layouts import Layout, backbone_state

LAYOUT = Layout(widths=(12, 12, 12, 24), outs=(24, 24, 48, 48), dcn={(3, 0): (True, 2)})


def _checkpoint(path, dcn: str):
    config = f"model = dict(backbone=dict(type='ResNet', depth=50, dcn=dict({dcn}), " \
             "stage_with_dcn=(False, False, False, True)))"
    torch.save({"meta": {"config": config}, "state_dict": backbone_state(LAYOUT)}, path)
    return path


def _deformable(network):
    run = probe_network(network, torch.rand(1, 3, 64, 64), detect=False)
    return [(r.geometry.offset_groups, r.mask is not None) for r in run.probe.layers]


@pytest.mark.parametrize("dcn, groups, modulated", [
    ("type='DCNv2', deform_groups=2, fallback_on_stride=False", 2, True),
    ("type='DCN', deform_groups=3", 3, False),
    ("deform_groups=3", 3, False),   # G alone decides too
    ("type='DCNv2'", 2, True),       # so does the type
])
def test_the_config_settles_an_ambiguous_offset_conv(tmp_path, dcn, groups, modulated):
    network = load_network(_checkpoint(tmp_path / "m.pth", dcn))
    assert _deformable(network) == [(groups, modulated)]
    said = network.details["deformable convs"]
    assert said.startswith("dcn=dict(") and "the checkpoint's config" in said


def test_a_config_the_weights_contradict_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r"the config says dcn=dict\(deform_groups=4\), but "
                                              r"54 channels are DCNv1 with 3 offset groups or "
                                              r"DCNv2 with 2"):
        load_network(_checkpoint(tmp_path / "m.pth", "deform_groups=4"))


def test_an_unambiguous_file_says_nothing_more(tmp_path):
    """A config's dcn=dict beside offset convs that only fit one kind adds no line."""
    plain = Layout(widths=(12, 12, 12, 24), outs=(24, 24, 48, 48), dcn={(3, 0): (True, 1)})
    config = "model = dict(backbone=dict(type='ResNet', dcn=dict(type='DCNv2', deform_groups=1)))"
    torch.save({"meta": {"config": config}, "state_dict": backbone_state(plain)}, tmp_path / "p.pth")
    assert "deformable convs" not in load_network(tmp_path / "p.pth").details
