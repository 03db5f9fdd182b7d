"""What the restricted unpicklers resolve, as an exact set, and what they refuse at every
pickle protocol: eval, exec, and getattr on anything but their own inert stand-ins."""

from __future__ import annotations

import collections
import pickle

import numpy as np
import pytest
import torch

from deformviz.errors import CheckpointError
from deformviz.networks.checkpoint_file import read_checkpoint
from deformviz.networks.safe_pickle import allowed_names, load_numpy_pickle
from deformviz.networks.torch_pickle import load_torch_file_skipping_objects, resolved_globals

NUMPY_AND_CONTAINERS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "bytearray"), ("builtins", "set"), ("builtins", "frozenset"),
    ("__builtin__", "bytearray"), ("__builtin__", "set"), ("__builtin__", "frozenset"),
}


def test_numpy_unpickler_allows_exactly_these_names():
    allowed = allowed_names()
    assert set(allowed) == NUMPY_AND_CONTAINERS
    assert allowed[("builtins", "set")] is set and allowed[("numpy", "ndarray")] is np.ndarray


def test_torch_unpickler_resolves_exactly_these_names():
    resolved = resolved_globals()
    assert set(resolved) == NUMPY_AND_CONTAINERS | {
        ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"), ("torch", "device"),
        ("builtins", "getattr"), ("__builtin__", "getattr")}
    # getattr is the inert one, never the built-in
    assert resolved[("builtins", "getattr")] is not getattr
    assert resolved[("torch", "device")] is torch.device


class _Calls:
    """Unpickling this calls `function(*arguments)`."""

    def __init__(self, function, *arguments) -> None:
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


class Inert:
    """A class of the file's own: stood in for by the torch unpickler."""


CALLS = [
    (_Calls(eval, "__import__('os').getpid()"), "eval"),
    (_Calls(exec, "x = 1"), "exec"),
    (_Calls(getattr, collections.OrderedDict, "fromkeys"),
     "getattr(collections.OrderedDict, 'fromkeys')"),
    (_Calls(getattr, np.zeros(2), "tofile"), "getattr(numpy.ndarray, 'tofile')"),
]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("call, name", CALLS, ids=["eval", "exec", "getattr-class",
                                                    "getattr-array"])
def test_numpy_unpickler_refuses_at_every_protocol(tmp_path, protocol, call, name):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"model": {"w": np.zeros(2, np.float32), "x": call}},
                                  protocol=protocol))
    with pytest.raises(CheckpointError) as caught:
        load_numpy_pickle(path)
    builtin = "__builtin__" if protocol == 2 else "builtins"
    expected = builtin + "." + ("getattr" if name.startswith("getattr") else name)
    assert f"the pickle would call {expected};" in str(caught.value)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("call, name", CALLS, ids=["eval", "exec", "getattr-class",
                                                    "getattr-array"])
def test_torch_unpickler_refuses_at_every_protocol(tmp_path, protocol, call, name):
    path = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "meta": {"hook": Inert(), "x": call}},
               path, pickle_protocol=protocol)
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(path)
    if name.startswith("getattr"):
        expected = f"builtins.{name}"  # the inert getattr names what it would have looked up
    else:
        expected = ("__builtin__." if protocol == 2 else "builtins.") + name
    assert f"refused to load: the file would call {expected};" in str(caught.value)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_getattr_on_a_stand_in_gives_a_stand_in(tmp_path, protocol):
    """The reference to a class method that mmengine's HistoryBuffer pickles."""
    path = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": {"w": torch.ones(2)},
                "message_hub": {"statistics": {"min": _Calls(getattr, Inert, "__init__")}}},
               path, pickle_protocol=protocol)
    data, skipped = load_torch_file_skipping_objects(path)
    assert skipped == (f"{__name__}.Inert",)
    stood_in = data["message_hub"]["statistics"]["min"]
    assert isinstance(stood_in, type) and stood_in.__qualname__ == f"{__name__}.Inert.__init__"
    assert repr(stood_in()) == f"<{__name__}.Inert.__init__, not read>"
    assert torch.equal(data["state_dict"]["w"], torch.ones(2))
