"""`deformviz sample` and `deformviz inspect` on users' networks: checkpoints in the published
mmdetection and detectron2 layouts (tests/networks/published_layouts.py, random weights with
non-zero offset convs) and a model factory from the user's own file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.networks.published_layouts import (Layout, backbone_state, dcn_c3_c5,
                                              mmdetection_checkpoint, write_detectron2_pkl)

SMALL = ("--short-side", "128", "--dpi", "60")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    files = {"mmdet": folder / "faster_rcnn_r50_dconv_c3-c5.pth",
             "plain": folder / "plain_r50.pth", "d2": folder / "model_final.pkl"}
    torch.save(mmdetection_checkpoint(Layout(dcn=dcn_c3_c5(modulated=True, groups=2))),
               files["mmdet"])
    torch.save({"state_dict": backbone_state(Layout())}, files["plain"])
    write_detectron2_pkl(files["d2"], Layout(naming="detectron2", dcn=dcn_c3_c5()))
    return files


def test_sample_an_mmdetection_checkpoint(run, samples: Path, checkpoints) -> None:
    result = run("sample", samples / "chelsea.jpg", "--model", checkpoints["mmdet"], *SMALL,
                 "-o", "x.png", "--save-data", "x.json", model=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["x.png", "x.json"]
    data = json.loads(Path("x.json").read_text())
    assert data["layers"] == ["res5a", "res5b", "res5c"]
    assert [layer["name"] for layer in data["chain"]] == [
        "layer4.0.conv2", "layer4.1.conv2", "layer4.2.conv2"]
    first = data["chain"][0]
    assert (first["version"], first["offset_groups"], first["stride"]) == ("DCNv2", 2, [2, 2])
    assert first["input_grid"] == {"stride": [16.0, 16.0], "origin": [0.0, 0.0]}
    assert data["chain"][1]["input_grid"]["stride"] == [32.0, 32.0]
    assert data["preprocessing"]["channel_order"] == "RGB"
    assert data["preprocessing"]["mean"] == [123.675, 116.28, 103.53]
    units = data["units"]
    assert sorted(u["role"] for u in units) == ["tightest sampling", "typical sampling",
                                                "widest sampling"]
    assert [len(level["points"]) for level in units[0]["levels"]] == [9, 81, 729]
    weights = np.array(units[0]["levels"][2]["weights"])
    # DCNv2: products of masks (0 where a parent fell outside its map)
    assert 0 <= weights.min() and weights.max() < 1 and np.median(weights) > 0
    dilations = [u["effective_dilation"] for u in units]
    assert dilations == sorted(dilations) and dilations[0] < dilations[-1]


def test_sample_other_layers_and_levels(run, samples: Path, checkpoints) -> None:
    result = run("sample", samples / "coffee.jpg", "--model", checkpoints["mmdet"], *SMALL,
                 "--layers", "layer3.5.conv2,res5a", "--levels", "2", "--at", "100", "80",
                 "-o", "y.png", "--save-data", "y.npz", model=False)
    assert result.exit_code == 0, result.output
    arrays = np.load("y.npz")
    meta = json.loads(str(arrays["meta"]))
    assert [layer["label"] for layer in meta["chain"]] == ["res4f", "res5a"]
    assert arrays["unit0_level2_points"].shape == (81, 2)
    # Level 1 samples res5a's input (stride 16), level 2 res4f's (stride 16 too).
    assert [layer["input_grid"]["stride"][0] for layer in meta["chain"]] == [16.0, 16.0]


def test_sample_a_detectron2_pkl_with_the_stride_on_the_3x3(run, samples: Path,
                                                            checkpoints) -> None:
    result = run("sample", samples / "chelsea.jpg", "--model", checkpoints["d2"], *SMALL,
                 "--no-stride-in-1x1", "--auto", "2", "--levels", "1", "-o", "z.png",
                 "--save-data", "z.json", model=False)
    assert result.exit_code == 0, result.output
    data = json.loads(Path("z.json").read_text())
    assert data["chain"][-1]["name"].endswith("res5.2.conv2")
    assert data["preprocessing"]["channel_order"] == "BGR" and len(data["units"]) == 2


def test_sample_a_model_factory(run, samples: Path, tmp_path: Path) -> None:
    (tmp_path / "my_net.py").write_text(
        "import torch\nfrom torch import nn\nfrom deformviz.ops import DeformConv2dPack\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1),\n"
        "                        DeformConv2dPack(8, 8, 3, padding=1),\n"
        "                        DeformConv2dPack(8, 8, 3, stride=2, padding=1))\n"
        "    for layer in net[1:]:\n"
        "        nn.init.normal_(layer.conv_offset.weight, std=0.3)\n"
        "    return net\n")
    result = run("sample", samples / "chelsea.jpg", "--model-factory",
                 f"{tmp_path / 'my_net.py'}:build", *SMALL, "-o", "f.png",
                 "--save-data", "f.json", model=False)
    assert result.exit_code == 0, result.output
    data = json.loads(Path("f.json").read_text())
    assert [layer["name"] for layer in data["chain"]] == ["1", "2"]
    assert [layer["input_grid"]["stride"][0] for layer in data["chain"]] == [4.0, 4.0]
    assert [len(level["points"]) for level in data["units"][0]["levels"]] == [9, 81]


@pytest.mark.parametrize("args,message", [
    (("--layers", "layer9.0.conv2"), "no deformable layer named 'layer9.0.conv2'"),
    (("--levels", "5"), "--levels 5: the chain has 3 layers"),
    (("--layers", "res5a,res5a"), "named twice"),
    (("--size", "256"), "--size resizes for the bundled network"),
    (("--backbone-style", "caffe", "--stride-in-1x1"), None),
])
def test_sample_bad_layer_options(run, samples: Path, checkpoints, args, message) -> None:
    result = run("sample", samples / "chelsea.jpg", "--model", checkpoints["mmdet"], *SMALL,
                 *args, "-o", "bad.png", model=False)
    if message is None:  # consistent options are fine
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and not Path("bad.png").exists()


def test_own_network_options_are_refused_for_the_bundled_network(run, samples: Path) -> None:
    result = run("sample", samples / "chelsea.jpg", "--backbone-style", "caffe")
    assert result.exit_code == 2 and "--backbone-style: only for your own network" in result.stderr


def test_inspect_reports_the_layers(run, checkpoints) -> None:
    result = run("inspect", checkpoints["mmdet"], model=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "format:" in out and "mmdetection" in out
    assert "ResNet-50, pytorch style (stride on the 3x3), DCNv2 in c3-c5" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith("  layer")}
    assert len(rows) == 1 + 13  # header + every deformable layer
    assert rows["layer2.0.conv2"][1:] == ["res3a", "DCNv2", "3x3", "2", "1", "2", "1", "4", "px"]
    assert rows["layer4.1.conv2"][-2:] == ["32", "px"] and rows["layer4.0.conv2"][-2:] == ["16", "px"]
    assert "default chain:" in out and "(res5a, res5b, res5c)" in out
    assert "mean (123.675, 116.28, 103.53)" in out


def test_inspect_caffe_style_moves_the_stride(run, checkpoints) -> None:
    result = run("inspect", checkpoints["mmdet"], "--backbone-style", "caffe", model=False)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()
            if line.startswith("  layer")}
    # The stride-2 1x1 runs first: block 0's deformable 3x3 sees the coarser map, stride 1.
    assert rows["layer4.0.conv2"][4] == "1" and rows["layer4.0.conv2"][-2:] == ["32", "px"]


@pytest.mark.parametrize("content,message", [
    (b"junk", "not a checkpoint"),
    (None, "plain ResNet-50"),
])
def test_inspect_and_sample_refuse_unusable_files(run, samples: Path, checkpoints,
                                                  tmp_path: Path, content, message) -> None:
    path = checkpoints["plain"]
    if content is not None:
        path = tmp_path / "junk.pth"
        path.write_bytes(content)
    for args in (("inspect", path), ("sample", samples / "chelsea.jpg", "--model", path)):
        result = run(*args, model=False)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines


def test_inspect_a_training_checkpoint_and_its_options(run, tmp_path: Path) -> None:
    from tests.networks.test_training_checkpoints import _mmengine_training_checkpoint

    path = tmp_path / "epoch_12.pth"
    _mmengine_training_checkpoint(path)
    result = run("inspect", path, "--weights-from", "model", "--dilations", "1,1,1,2",
                 model=False)
    assert result.exit_code == 0, result.output
    for line in ("training state:     epoch 12, iteration 3000",
                 "EMA:                mmengine EMAHook (ema_state_dict)",
                 "weights from:       model (chosen; mmengine's EMAHook swaps",
                 "config:             embedded, meta['cfg']",
                 "strides, dilations: strides 1, 2, 2, 1, dilations 1, 1, 1, 2 (chosen"):
        assert line in result.stdout, line
    bad = run("inspect", path, "--dilations", "1,1,2", model=False)
    assert bad.exit_code == 2 and "--dilations '1,1,2': expected four whole numbers" in bad.stderr


def test_sample_records_every_assumption_and_the_group(run, samples: Path, tmp_path: Path) -> None:
    path = tmp_path / "g4.pth"
    torch.save({"state_dict": backbone_state(Layout(dcn=dcn_c3_c5(modulated=True, groups=4)))},
               path)
    result = run("sample", samples / "chelsea.jpg", "--model", path, *SMALL, "--group", "all",
                 "--levels", "1", "--at", "100", "100", "-o", "g.png", "--save-data", "g.json",
                 model=False)
    assert result.exit_code == 0, result.output
    data = json.loads(Path("g.json").read_text())
    assert data["offset_groups"] == [0, 1, 2, 3]
    assert [unit["offset_group"] for unit in data["units"]] == [0, 1, 2, 3]
    assert data["network"]["style"] == "pytorch (mmdetection's default; the weights do not say)"
    assert "the weights do not say" in data["network"]["strides, dilations"]
    assert data["network"]["weights from"] == "the file's only weights"
    bad = run("sample", samples / "chelsea.jpg", "--model", path, *SMALL, "--group", "all",
              "--style", "hull", "-o", "h.png", model=False)
    assert bad.exit_code == 2 and "--group all draws points" in bad.stderr
    assert not Path("h.png").exists()
def test_roi_needs_a_network_with_an_roi_head(run, samples: Path, checkpoints) -> None:
    result = run("roi", samples / "chelsea.jpg", "--model", checkpoints["mmdet"], "--box", "1",
                 "1", "50", "50", "-o", "x.png", model=False)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --model {checkpoints['mmdet']}: the network has no RoI head; 'deformviz roi' "
        "draws the bins of a deformable RoI pooling"]
    assert not Path("x.png").exists()


def test_inspect_a_bundled_name(run) -> None:
    result = run("inspect", "lite0-deform-synth", model=False)
    assert result.exit_code == 0, result.output
    assert "format:" in result.stdout and "bundled" in result.stdout
    assert "stage.layers.0, stage.layers.1, stage.layers.2 (res5a, res5b, res5c)" in result.stdout
