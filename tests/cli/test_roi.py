"""`deformviz roi`: boxes from options, files or detections."""

from __future__ import annotations

import json
import re
from pathlib import Path


def test_roi_pdf_end_to_end(run, samples: Path) -> None:
    result = run("roi", samples / "chelsea.jpg", "--box", "40", "60", "300", "280", "-o",
                 "out.pdf", "--size", "256", "--show-regular", "--save-data", "bins.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["out.pdf", "bins.json"]
    pdf = Path("out.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Type3" not in pdf
    box = [float(v) for v in re.search(rb"/MediaBox \[ *([^\]]+)\]", pdf).group(1).split()]
    assert abs(box[2] - 237.13594 / 72.27 * 72) < 1e-3  # cvpr column by default
    data = json.loads(Path("bins.json").read_text())
    assert data["boxes"][0]["box"] == [40, 60, 300, 280]


def test_roi_boxes_file_and_several_boxes(run, samples: Path) -> None:
    Path("boxes.json").write_text(json.dumps({"boxes": [{"box": [10, 10, 100, 100]}]}))
    result = run("roi", samples / "coffee.jpg", "--boxes", "boxes.json", "--box", "200", "50",
                 "400", "300", "-o", "r.png", "--size", "128", "--save-data", "r.json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(Path("r.json").read_text())["boxes"]) == 2


def test_roi_without_boxes_uses_detections(run, samples: Path) -> None:
    result = run("roi", samples / "chelsea.jpg", "--max-boxes", "2", "--size", "256",
                 "--save-data", "det.json", "-o", "det.svg")
    assert result.exit_code == 0, result.output
    boxes = json.loads(Path("det.json").read_text())["boxes"]
    assert 1 <= len(boxes) <= 2 and all(b["source"] == "detection" for b in boxes)
