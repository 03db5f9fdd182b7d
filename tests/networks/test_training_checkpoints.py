"""Training checkpoints (unpublished: runner state and EMA copies beside the weights) load.

The mmdetection 3.x one is written by the real mmengine package (its MessageHub, optimizer
and scheduler state, EMAHook and save_checkpoint), as `Runner.save_checkpoint` assembles it.
"""

from __future__ import annotations

import zipfile

import pytest
import torch
from torch import nn

from deformviz.errors import CheckpointError, InputError
from deformviz.networks import load_network
from deformviz.networks.resnet import ResNet, ResNetSpec, DeformSpec

from .published_layouts import Layout, backbone_state, dcn_c3_c5, mmdetection_checkpoint

LAYOUT = Layout(blocks=(1, 1, 2, 2), dcn=dcn_c3_c5((1, 1, 2, 2), modulated=True))
CONFIG = """model = dict(
    type='FasterRCNN',
    backbone=dict(
        type='ResNet',
        depth=50,
        style='pytorch',
        dcn=dict(type='DCNv2', deform_groups=1),
        stage_with_dcn=(False, True, True, True)),
    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048]))
"""


class _Detector(nn.Module):
    """A detector as mmdetection names it: `backbone.*` and a neck."""

    def __init__(self) -> None:
        super().__init__()
        spec = ResNetSpec(LAYOUT.blocks, LAYOUT.widths, LAYOUT.outs, stem_channels=LAYOUT.stem,
                          deform=tuple((DeformSpec(True),) * n if i else (None,) * n
                                       for i, n in enumerate(LAYOUT.blocks)))
        self.backbone = ResNet(spec)
        self.neck = nn.Conv2d(64, 4, 1)


def _mmengine_training_checkpoint(path, ema: bool = True):
    """epoch_12.pth as mmengine's runner writes it (EMAHook swapping before the save)."""
    import mmengine
    from mmengine.hooks import EMAHook
    from mmengine.logging import MessageHub
    from mmengine.model import ExponentialMovingAverage
    from mmengine.optim import MultiStepLR
    from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu

    model = _Detector()
    published = backbone_state(LAYOUT)
    model.load_state_dict({**published, **{f"neck.{k}": v for k, v in
                                           nn.Conv2d(64, 4, 1).state_dict().items()}})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    scheduler = MultiStepLR(optimizer, milestones=[8, 11], by_epoch=True)
    average = ExponentialMovingAverage(model, momentum=0.5)
    average.update_parameters(model)  # its first update copies the model
    generator = torch.Generator().manual_seed(1)
    for parameter in model.parameters():  # one training step: the two copies now differ
        parameter.grad = torch.randn(parameter.shape, generator=generator)
    optimizer.step()
    scheduler.step()
    average.update_parameters(model)
    hub = MessageHub.get_instance("deformviz-test-epoch-12")
    for step in range(5):
        hub.update_scalar("train/loss", 1.0 / (step + 1))
    hub.update_info("epoch", 12)
    checkpoint = {
        "meta": {"epoch": 12, "iter": 3000, "cfg": CONFIG, "seed": 0,
                 "experiment_name": "faster-rcnn_r50-dconv", "time": "20261203_095000",
                 "mmengine_version": mmengine.__version__,
                 "dataset_meta": {"classes": ("person", "car")}},
        "state_dict": weights_to_cpu(get_state_dict(model)),
        "message_hub": hub.state_dict(),
        "optimizer": optimizer.state_dict(),
        "param_schedulers": [scheduler.state_dict()],
    }
    own = {k: v.clone() for k, v in model.state_dict().items()}
    averaged = {k: v.clone() for k, v in average.module.state_dict().items()}
    if ema:
        hook = EMAHook()
        hook.ema_model = average
        hook.before_save_checkpoint(None, checkpoint)  # swaps the EMA into state_dict
    save_checkpoint(checkpoint, str(path))
    return own, averaged


def test_mmengine_epoch_checkpoint_loads_ema_by_default(tmp_path):
    path = tmp_path / "epoch_12.pth"
    own, averaged = _mmengine_training_checkpoint(path)
    with zipfile.ZipFile(path) as archive:  # what used to stop the loader
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"getattr" in pickled and b"HistoryBuffer" in pickled
    key = "layer4.1.conv2.conv_offset.weight"
    assert not torch.equal(own[f"backbone.{key}"], averaged[f"backbone.{key}"])

    network = load_network(path)
    loaded = network.module.state_dict()
    for name in (key, "layer1.0.conv1.weight", "bn1.running_mean"):
        assert torch.equal(loaded[name], averaged[f"backbone.{name}"]), name
    details = network.details
    assert details["training state"] == "epoch 12, iteration 3000"
    assert details["EMA"] == "mmengine EMAHook (ema_state_dict)"
    assert details["weights from"].startswith("ema (default: what mmdetection evaluates with")
    assert details["config"] == "embedded, meta['cfg']"
    assert details["runner entries"].startswith(
        "message_hub, optimizer, param_schedulers, ema_state_dict (read as inert data")
    assert "mmengine.logging.history_buffer.HistoryBuffer" in details["not read"]
    assert details["style"] == "pytorch (the checkpoint's config; the weights do not say)"

    model = load_network(path, weights_from="model").module.state_dict()
    for name in (key, "layer1.0.conv1.weight"):
        assert torch.equal(model[name], own[f"backbone.{name}"]), name


def test_mmengine_checkpoint_without_ema(tmp_path):
    path = tmp_path / "iter_3000.pth"
    own, _ = _mmengine_training_checkpoint(path, ema=False)
    network = load_network(path)
    assert torch.equal(network.module.state_dict()["layer4.1.conv2.conv_offset.weight"],
                       own["backbone.layer4.1.conv2.conv_offset.weight"])
    assert network.details["EMA"] == "none in the file"
    assert network.details["weights from"] == "the file's only weights"
    with pytest.raises(CheckpointError, match="--weights-from ema: the file holds no EMA copy"):
        load_network(path, weights_from="ema")
    with pytest.raises(InputError, match="weights from must be one of ema, model"):
        load_network(path, weights_from="best")


def test_mmdetection_2x_ema_buffers(tmp_path):
    """mmdetection 2.x's EMA hooks keep the average as `ema_<key>` buffers of the model."""
    checkpoint = mmdetection_checkpoint(LAYOUT)
    state = checkpoint["state_dict"]
    raw = {}
    for key in list(state):
        if key.startswith("backbone.") and state[key].is_floating_point():
            raw[key] = state[key] + 1.0  # the model's own weights, swapped out at epoch end
            state["ema_" + key.replace(".", "_")] = raw[key]
    torch.save(checkpoint, tmp_path / "epoch_12.pth")
    network = load_network(tmp_path / "epoch_12.pth")
    key = "layer2.0.conv2.conv_offset.bias"
    assert torch.equal(network.module.state_dict()[key], state[f"backbone.{key}"])
    assert network.details["EMA"] == "mmdetection 2.x EMA hook (ema_* buffers)"
    assert "the weights do not say" in network.details["weights from"]
    assert "ema_" not in network.details["ignored keys"]
    assert network.details["training state"] == "epoch 12, iteration 87960"
    model = load_network(tmp_path / "epoch_12.pth", weights_from="model")
    assert torch.equal(model.module.state_dict()[key], raw[f"backbone.{key}"])


def test_published_file_says_it_holds_no_training_state(tmp_path):
    torch.save({"state_dict": mmdetection_checkpoint(LAYOUT)["state_dict"]}, tmp_path / "pub.pth")
    details = load_network(tmp_path / "pub.pth").details
    assert details["training state"] == "none recorded (published weights only)"
    assert details["config"].startswith("none found")
