"""Unusable files give one line that says why; loading never runs code from a file."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from deformviz.cli.errors import EXIT_BAD_INPUT, exit_code_for
from deformviz.errors import CheckpointError, InputError
from deformviz.networks import load_network
from deformviz.networks.safe_pickle import load_numpy_pickle

from .published_layouts import Layout, backbone_state, dcn_c3_c5, mmdetection_checkpoint


def one_line_error(path, **options) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_network(path, **options)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    assert exit_code_for(caught.value) == EXIT_BAD_INPUT
    return message


class _RunsShell:
    """Unpickling this calls os.system(command)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_pickle_that_would_call_os_system_is_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "ran"
    payload = {"model": {"backbone.bottom_up.stem.conv1.weight": np.zeros((8, 3, 7, 7), np.float32),
                         "evil": _RunsShell(f"touch {marker}")}, "__author__": "someone"}
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    message = one_line_error(path)
    assert "refused to load: the pickle would call posix.system" in message
    assert "nothing was run" in message
    assert not marker.exists()


def test_pickle_naming_other_callables_is_refused(tmp_path):
    class Evaluates:
        def __reduce__(self):
            return eval, ("1 + 1",)

    path = tmp_path / "eval.pkl"
    path.write_bytes(pickle.dumps({"model": Evaluates()}, protocol=2))
    assert "would call __builtin__.eval" in one_line_error(path)  # protocol 2's name
    path.write_bytes(pickle.dumps({"x": np.array([object()], dtype=object)}, protocol=2))
    with pytest.raises(CheckpointError):  # object arrays reconstruct objects: refused as well
        load_numpy_pickle(path)


def test_torch_file_of_a_whole_module_is_refused(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)  # a whole module, not a state dict
    assert ("holds pickled Python objects (torch.nn.modules.linear.Linear), not a state dict"
            in one_line_error(path))


def test_torch_file_that_would_call_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    checkpoint = mmdetection_checkpoint(Layout(dcn=dcn_c3_c5()))
    checkpoint["meta"]["hook"] = _RunsShell(f"touch {marker}")
    torch.save(checkpoint, tmp_path / "evil.pth")
    assert "refused to load: the file would call posix.system" in one_line_error(tmp_path / "evil.pth")
    assert not marker.exists()


def test_framework_objects_beside_the_weights_are_skipped_unread(tmp_path):
    """mmengine (mmdetection 3.x) saves HistoryBuffers and numpy values with the weights."""
    from tests.networks.user_networks import HistoryBuffer

    marker = tmp_path / "ran"
    HistoryBuffer.RAN_MARKER = str(marker)
    try:
        checkpoint = mmdetection_checkpoint(Layout(dcn=dcn_c3_c5()))
        checkpoint["meta"]["hook_msgs"] = {"best_score": np.float64(0.41)}
        checkpoint["message_hub"] = {"log_scalars": {"train/loss": HistoryBuffer()},
                                     "runtime_info": {"epoch": 12}}
        torch.save(checkpoint, tmp_path / "epoch_12.pth")
        network = load_network(tmp_path / "epoch_12.pth")
    finally:
        HistoryBuffer.RAN_MARKER = None
    assert not marker.exists()
    assert network.details["not read"] == (
        "objects besides the weights, of classes tests.networks.user_networks.HistoryBuffer")
    assert len(network.deformable_layers) == 13


@pytest.mark.parametrize("kind", ["pth", "pkl"])
def test_truncated_files(tmp_path, kind):
    layout = Layout(dcn=dcn_c3_c5())
    path = tmp_path / f"cut.{kind}"
    if kind == "pth":
        torch.save(mmdetection_checkpoint(layout), path)
    else:
        path.write_bytes(pickle.dumps({"model": {k: v.numpy() for k, v in
                                                 backbone_state(layout).items()}}, protocol=2))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in one_line_error(path)


def test_not_a_checkpoint_and_wrong_types(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    assert "not a checkpoint" in one_line_error(text)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    assert "empty file" in one_line_error(empty)
    png = tmp_path / "photo.pkl"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "not a checkpoint" in one_line_error(png)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"\x80\x02\xff\xfe" + bytes(30))
    assert "not a checkpoint, or a damaged one" in one_line_error(garbage)
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    assert "holds a Tensor, not a checkpoint" in one_line_error(tensor)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], listed)
    assert "holds a list" in one_line_error(listed)
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3, "lr": 0.1}, numbers)
    assert "without weights" in one_line_error(numbers)


def test_missing_file_and_folder(tmp_path):
    assert "no such file" in one_line_error(tmp_path / "nowhere.pth")
    assert "is a folder" in one_line_error(tmp_path)


def test_unknown_layout_names_a_key(tmp_path):
    path = tmp_path / "vit.pth"
    torch.save({"state_dict": {"encoder.blocks.0.attn.qkv.weight": torch.zeros(3, 3)}}, path)
    message = one_line_error(path)
    assert "unknown layout" in message and "encoder.blocks.0.attn.qkv.weight" in message
    basic = Layout()
    state = {k: v for k, v in backbone_state(basic).items() if ".conv3." not in k}
    torch.save(state, tmp_path / "r18.pth")
    assert "basic block" in one_line_error(tmp_path / "r18.pth")
    odd = backbone_state(Layout(dcn={(3, 0): (False, 1)}))
    odd["backbone.layer4.0.conv2.conv_offset.weight"] = torch.zeros(20, 16, 3, 3)
    torch.save(odd, tmp_path / "odd.pth")
    assert ("backbone.layer4.0.conv2.conv_offset.weight has 20 output channels, not 18 G (DCNv1) "
            "or 27 G (DCNv2)") in one_line_error(tmp_path / "odd.pth")
    deep = {**backbone_state(Layout(dcn=dcn_c3_c5())), "backbone.stem.0.weight": torch.zeros(1)}
    torch.save(deep, tmp_path / "v1d.pth")
    assert ("both a deep stem (backbone.stem.0) and a 7x7 stem conv (backbone.conv1)"
            in one_line_error(tmp_path / "v1d.pth"))


def test_option_errors(tmp_path):
    torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5())), tmp_path / "m.pth")
    with pytest.raises(InputError, match="style must be one of pytorch, caffe"):
        load_network(tmp_path / "m.pth", style="mxnet")
    with pytest.raises(InputError, match="contradicting"):
        load_network(tmp_path / "m.pth", style="caffe", stride_in_1x1=False)
    with pytest.raises(InputError, match="weights go with a model factory"):
        load_network(tmp_path / "m.pth", weights=tmp_path / "m.pth")
