"""`stats` and `explore` take every option that selects a user's network, as `sample` does
(`--weights-from`, `--dilations`; explore also `--group`), and choose a head layer per pyramid
level with `name@pN` (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tests.networks.published_layouts import Layout, backbone_state, dcn_c3_c5
from tests.statistics.conftest import write_coco_scenes

SMALL = ("--short-side", "128")

#: Two deformable convs of a head run on p3, p4 and p5 (as mmdetection's FCOS head with DCN).
FACTORY = "tests.probe.test_pyramid_levels:FPNWithDeformableHead"
HEAD_LAYERS = "cls_convs.0.conv@p4,cls_convs.1.conv@p4"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    write_coco_scenes(folder, 2)
    return folder


def _page_data(page: Path) -> dict:
    found = re.search(r'id="deformviz-data">(.*?)</script>', page.read_text(), re.S)
    assert found, "no data in the page"
    return json.loads(found.group(1))


def _grouped_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": backbone_state(Layout(dcn=dcn_c3_c5(modulated=True, groups=4)))},
               path)
    return path


def test_stats_takes_weights_from_and_dilations(run, scenes: Path, tmp_path: Path) -> None:
    from tests.networks.test_training_checkpoints import _mmengine_training_checkpoint

    path = tmp_path / "epoch_12.pth"
    _mmengine_training_checkpoint(path)
    tables = {}
    for name, extra in (("default", ()), ("ema", ("--weights-from", "ema")),
                        ("model", ("--weights-from", "model")),
                        ("dilated", ("--weights-from", "model", "--dilations", "1,1,1,2"))):
        result = run("stats", scenes, "-a", scenes / "instances.json", "--model", path, *SMALL,
                     "--workers", "0", *extra, "-o", f"{name}.json", model=False)
        assert result.exit_code == 0, result.output
        tables[name] = json.loads(Path(f"{name}.json").read_text())
    dilation = {name: table["effective_dilation"] for name, table in tables.items()}
    assert dilation["default"] == dilation["ema"]  # mmdetection evaluates with the EMA copy
    assert dilation["model"] != dilation["ema"]    # the two copies differ after one step
    assert "c5 dilated 2" in tables["dilated"]["settings"]["network"]["architecture"]
    assert "dilated" not in tables["model"]["settings"]["network"]["architecture"]
    top = tables["dilated"]["settings"]["layers"][-1]
    assert dilation["dilated"][top]["rigid"] == 2.0 and dilation["model"][top]["rigid"] == 1.0
    bad = run("stats", scenes, "-a", scenes / "instances.json", "--model", path, *SMALL,
              "--dilations", "1,2", model=False)
    assert bad.exit_code == 2 and "--dilations '1,2': expected four whole numbers" in bad.stderr


def test_stats_chooses_head_layers_per_pyramid_level(run, scenes: Path, tmp_path: Path) -> None:
    result = run("stats", scenes, "-a", scenes / "instances.json", "--model-factory",
                 FACTORY, "--layers", HEAD_LAYERS, "--workers", "0",
                 "-o", "t.json", model=False)
    assert result.exit_code == 0, result.output
    settings = json.loads(Path("t.json").read_text())["settings"]
    assert settings["layers"] == ["bbox_head.cls_convs.0.conv@p4", "bbox_head.cls_convs.1.conv@p4"]
    assert settings["network"]["layers"] == ["bbox_head.cls_convs.0.conv#2",
                                             "bbox_head.cls_convs.1.conv#2"]
    bad = run("stats", scenes, "-a", scenes / "instances.json", "--model-factory",
              FACTORY, "--layers", "cls_convs.0.conv",
              "--workers", "0", model=False)
    assert bad.exit_code == 2 and "name one, e.g. bbox_head.cls_convs.0.conv@p4" in bad.stderr


def test_explore_chooses_head_layers_per_pyramid_level(run, samples: Path, tmp_path: Path) -> None:
    result = run("explore", samples / "chelsea.jpg", "--model-factory",
                 FACTORY, "--layers", HEAD_LAYERS, *SMALL,
                 "-o", "p.html", model=False)
    assert result.exit_code == 0, result.output
    data = _page_data(Path("p.html"))
    assert [layer["label"] for layer in data["layers"]] == ["bbox_head.cls_convs.0.conv@p4",
                                                            "bbox_head.cls_convs.1.conv@p4"]
    assert [layer["input_grid"]["stride"] for layer in data["layers"]] == [[16.0, 16.0]] * 2
    assert "--layers" in data["command"]["arguments"]


def test_explore_takes_group_weights_from_and_dilations(run, samples: Path,
                                                        tmp_path: Path) -> None:
    path = _grouped_checkpoint(tmp_path / "g4.pth")
    result = run("explore", samples / "chelsea.jpg", "--model", path, *SMALL, "--group", "2",
                 "--weights-from", "model", "--dilations", "1,1,1,2", "-o", "p.html",
                 model=False)
    assert result.exit_code == 0, result.output
    data = _page_data(Path("p.html"))
    assert data["group"] == 2
    arguments = data["command"]["arguments"]
    for flag, value in (("--group", "2"), ("--weights-from", "model"),
                        ("--dilations", "1,1,1,2")):
        assert arguments[arguments.index(flag) + 1] == value
    # the page's layers at dilation 2 in c5: the option reached the network
    assert [layer["dilation"] for layer in data["layers"]] == [[2, 2]] * 3
    for args, message in ((("--group", "all"), "--group all: the page follows one offset group"),
                          (("--group", "4"), "offset group 4: the chain's layers have 4")):
        bad = run("explore", samples / "chelsea.jpg", "--model", path, *SMALL, *args,
                  "-o", "q.html", model=False)
        assert bad.exit_code == 2 and message in bad.stderr, bad.output
        assert not Path("q.html").exists()
