"""One Network for every kind: bundled names, deformviz's exports, checkpoints, factories and
modules all load through `load_network` / `as_network` and run through the same pass."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from deformviz.errors import CheckpointError, InputError
from deformviz.imaging import load_image
from deformviz.networks import (LoadedNetwork, LongSideResize, NetworkOptionError, as_network,
                                bundled_network, load_network, probe_network, with_resize)
from deformviz.probe import LayerAdapter, register_layer_adapter, unregister_layer_adapter
from deformviz.visualize import probe_image, roi_bins
from tests.fixtures_model import _one_thread, samples, test_model, test_model_path  # noqa: F401

FACTORY = "tests.networks.user_networks:tiny_deform_net"


def test_bundled_name_loads_as_a_network() -> None:
    network = load_network("lite0-deform-synth")
    assert network.format == "bundled" and network.source == "lite0-deform-synth"
    assert network.layers.chain() == ("stage.layers.0", "stage.layers.1", "stage.layers.2")
    assert network.layers.find("res5b") == "stage.layers.1"
    assert network.detection_head is not None and network.roi_head is not None
    assert network.preprocessing == LongSideResize(512)
    assert not network.module.training


def test_deformviz_export_loads_from_python(test_model_path: Path, test_model) -> None:
    network = load_network(test_model_path)
    assert network.format == "deformviz-export" and network.source == str(test_model_path)
    for name, value in test_model.state_dict().items():
        assert torch.equal(network.module.state_dict()[name], value), name
    assert network.layers.label("stage.layers.2") == "res5c"


def test_checkpoint_options_are_refused_for_the_bundled_detector(test_model_path: Path) -> None:
    with pytest.raises(NetworkOptionError, match="style: only for networks") as error:
        load_network(test_model_path, style="caffe")
    assert error.value.given == ("style",)
    with pytest.raises(NetworkOptionError) as error:
        load_network("lite0-deform-synth", short_side=320)
    assert error.value.given == ("short_side",)


def test_unknown_name_is_one_line() -> None:
    with pytest.raises(CheckpointError, match="unknown network 'no-such-net'"):
        load_network("no-such-net")


def test_with_resize_follows_the_preprocessing(test_model) -> None:
    bundled = bundled_network(test_model)
    assert with_resize(bundled, long_side=128).preprocessing == LongSideResize(128)
    assert with_resize(bundled) is bundled
    factory = load_network(FACTORY)
    resized = with_resize(factory, short_side=96)
    assert resized.preprocessing.short_side == 96 and factory.preprocessing.short_side == 800
    with pytest.raises(NetworkOptionError, match="long_side") as error:
        with_resize(factory, long_side=256)
    assert error.value.accepted == ("short_side", "max_long_side")


def test_a_plain_module_needs_its_preprocessing() -> None:
    module = load_network(FACTORY).module
    with pytest.raises(InputError, match="needs `preprocessing`"):
        as_network(module)
    network = as_network(module, LongSideResize(64))
    assert network.format == "module" and network.layers.names == ("blocks.0", "blocks.2")
    assert network.detection_head is None and network.roi_head is None


def test_one_pass_gives_records_and_detections(test_model, samples: Path) -> None:
    network = bundled_network(test_model, long_side=128)
    prepared = network.preprocessing.prepare(load_image(samples / "chelsea.jpg"))
    run = probe_network(network, prepared.tensor, score_threshold=0.0, max_detections=5)
    assert [run.probe.label(r.name) for r in run.probe.layers] == ["res5a", "res5b", "res5c"]
    assert run.detections is not None and len(run.detections.boxes) == 5
    assert run.detections.heatmap.shape[-2:] == run.probe.layers[-1].output_size
    # The stated grid (origin 15) is the one recorded.
    assert run.probe.layers[-1].output_grid.origin == (15.0, 15.0)


def test_roi_works_for_any_network_with_an_roi_head(test_model, samples: Path) -> None:
    """A network of another format that carries an RoI head (and no detection head) gets its
    bins; the same boxes through the bundled detector give the same bins."""
    bundled = bundled_network(test_model, long_side=128)
    other = LoadedNetwork(test_model, LongSideResize(128), "factory", "test",
                          bundled.deformable_layers, bundled.default_chain, "mine",
                          roi_head=bundled.roi_head, grids=bundled.grids)
    box = [[40.0, 60.0, 300.0, 280.0]]
    image = samples / "chelsea.jpg"
    ours, theirs = roi_bins(other, image, box), roi_bins(bundled, image, box)
    assert ours.model_name == "mine"
    np.testing.assert_array_equal(ours.boxes[0].deformed, theirs.boxes[0].deformed)
    with pytest.raises(InputError, match="detects no objects itself"):
        roi_bins(other, image)
    without = dataclasses.replace(other, roi_head=None)
    with pytest.raises(InputError, match="has no RoI head"):
        roi_bins(without, image, box)


def test_probe_image_takes_every_form(test_model, test_model_path: Path, samples: Path) -> None:
    image = samples / "chelsea.jpg"
    from_module = probe_image(test_model, image, long_side=128)
    from_file = probe_image(load_network(test_model_path), image, long_side=128)
    assert from_module.model_name == "model" and from_file.model_name == str(test_model_path)
    for a, b in zip(from_module.probe.layers, from_file.probe.layers):
        assert torch.equal(a.offset, b.offset)
    assert from_module.preprocessing == from_file.preprocessing
    assert from_module.preprocessing["long_side"] == 128


class _Doubled(nn.Module):
    """A deformable layer kind deformviz does not know: offsets from its `offsets` conv."""

    kernel_size, stride, padding, dilation, groups = (3, 3), (1, 1), (1, 1), (1, 1), 1

    def __init__(self) -> None:
        super().__init__()
        self.offsets = nn.Conv2d(3, 18, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offsets(x)[:, :3]


def test_a_registered_adapter_is_seen_by_the_loaders() -> None:
    from deformviz.probe import from_submodule_output, spec_from_attributes

    module = nn.Sequential(nn.Conv2d(3, 3, 1), _Doubled()).eval()
    assert as_network(module, LongSideResize(64)).layers.names == ()
    adapter = register_layer_adapter(LayerAdapter(
        "doubled", lambda m: isinstance(m, _Doubled), spec_from_attributes,
        from_submodule_output("offsets")))
    try:
        network = as_network(module, LongSideResize(64))
        assert network.layers.names == ("1",)
        run = probe_network(network, torch.zeros(1, 3, 32, 32))
        assert [r.kind for r in run.probe.layers] == ["doubled"]
    finally:
        unregister_layer_adapter(adapter)


def test_old_names_still_work_for_one_release(test_model, test_model_path: Path,
                                             samples: Path) -> None:
    from deformviz.models.registry import load_checkpoint
    from deformviz.visualize import sample_locations

    with pytest.warns(DeprecationWarning, match="model= is deprecated"):
        result = sample_locations(model=test_model, image=samples / "chelsea.jpg",
                                  long_side=128, at=[(50, 50)], levels=1)
    assert len(result.samplings) == 1
    with pytest.warns(DeprecationWarning, match="use load_export"):
        loaded = load_checkpoint(test_model_path)
    assert not loaded.training
