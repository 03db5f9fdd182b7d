"""Write small checkpoints of every kind the loaders know, to try `deformviz inspect` on.

Random weights, narrow layers, the published key layouts of `tests/networks/published_layouts.py`
(the mmengine training checkpoint is written by mmengine itself: `pip install mmengine==0.10.7`).

    python tools/make_demo_checkpoints.py demo/
    deformviz inspect demo/work_dirs/epoch_12.pth
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.networks.published_layouts import (Layout, backbone_state, dcn_c3_c5,  # noqa: E402
                                              detectron2_model, write_detectron2_pkl,
                                              write_detectron2_pth)
from tests.networks.test_training_checkpoints import _mmengine_training_checkpoint  # noqa: E402


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("work_dirs", "X-50-4x2d", "R-50-DC5", "R-50-GN"):
        (folder / name).mkdir(exist_ok=True)
    _mmengine_training_checkpoint(folder / "work_dirs" / "epoch_12.pth")
    write_detectron2_pkl(folder / "X-50-4x2d" / "model_final.pkl", Layout(
        naming="detectron2", widths=(8, 16, 16, 32), outs=(16, 32, 32, 64), groups=4,
        dcn=dcn_c3_c5(), batch_counters=False))
    write_detectron2_pth(folder / "R-50-DC5" / "model_final.pth",
                         Layout(naming="detectron2", dcn=dcn_c3_c5(), batch_counters=False))
    (folder / "R-50-DC5" / "config.yaml").write_text(
        "MODEL:\n  RESNETS:\n    DEPTH: 50\n    STRIDE_IN_1X1: true\n    RES5_DILATION: 2\n")
    write_detectron2_pth(folder / "R-50-GN" / "model_final.pth", Layout(
        naming="detectron2", norm="GN", widths=(32, 32, 32, 64), outs=(64, 64, 64, 128),
        stem=32, dcn=dcn_c3_c5(), batch_counters=False))
    torch.save({"state_dict": backbone_state(Layout(deep_stem=True, avg_down=True,
                                                    dcn=dcn_c3_c5(modulated=True)))},
               folder / "r50v1d_dconv.pth")
    c4 = detectron2_model(Layout(naming="detectron2", dcn=dcn_c3_c5(), prefix="backbone.",
                                 batch_counters=False))
    torch.save({"model": {k.replace("backbone.res5", "roi_heads.res5"): v
                          for k, v in c4.items()}}, folder / "R-50-C4_dconv.pth")
    torch.save({"state_dict": backbone_state(Layout(dcn=dcn_c3_c5(modulated=True, groups=4)))},
               folder / "r50_mdconv_4groups.pth")
    print("\n".join(str(p) for p in sorted(folder.rglob("*")) if p.is_file()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/make_demo_checkpoints.py FOLDER")
    main(Path(sys.argv[1]))
