"""The numpy-only unpickler reads zoo files of every vintage."""

from __future__ import annotations

import collections
import pickle
import struct

import numpy as np
import pytest

from deformviz.networks.safe_pickle import load_numpy_pickle


def python2_numpy_pickle(values: list[float]) -> bytes:
    """{'model': {'w': float32 array}} exactly as Python 2's cPickle (protocol 2) and numpy 1.x
    wrote it: `numpy.core.multiarray` names, and the array's bytes as a Python 2 str
    (SHORT_BINSTRING), assembled opcode by opcode."""
    data = struct.pack(f"<{len(values)}f", *values)

    def short_string(raw: bytes) -> bytes:
        return b"U" + bytes([len(raw)]) + raw

    array = (b"cnumpy.core.multiarray\n_reconstruct\n" b"cnumpy\nndarray\n"
             b"K\x00\x85" + short_string(b"b") + b"\x87R"          # _reconstruct(ndarray, (0,), 'b')
             b"(K\x01" + b"K" + bytes([len(values)]) + b"\x85"      # state: (1, (n,), dtype, False, data)
             b"cnumpy\ndtype\n" + short_string(b"f4") + b"K\x00K\x01\x87R"
             b"(K\x03" + short_string(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             b"\x89" + short_string(data) + b"tb")
    return (b"\x80\x02}" + short_string(b"model") + b"}" + short_string(b"w") + array
            + b"s" + b"s" + b".")


def test_python2_protocol2_pickle_with_numpy_core_path(tmp_path):
    path = tmp_path / "detectron_model.pkl"
    path.write_bytes(python2_numpy_pickle([1.5, -2.0, 0.25]))
    loaded = load_numpy_pickle(path)
    np.testing.assert_array_equal(loaded["model"]["w"], np.array([1.5, -2.0, 0.25], np.float32))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_and_plain_containers(tmp_path, protocol):
    value = {"model": collections.OrderedDict(w=np.arange(6, dtype=np.float16).reshape(2, 3),
                                              step=np.int64(7)),
             "__author__": "Detectron2 Model Zoo", "shapes": [(1, 2), {3, 4}]}
    path = tmp_path / "file.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = load_numpy_pickle(path)
    np.testing.assert_array_equal(loaded["model"]["w"], value["model"]["w"])
    assert loaded["model"]["step"] == 7 and loaded["shapes"] == [(1, 2), {3, 4}]
