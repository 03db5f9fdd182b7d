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


def test_roi_top_and_min_score_choose_the_detections(run, samples: Path) -> None:
    every = run("roi", samples / "scene_001.png", "--top", "100", "--min-score", "0.05",
                "--size", "256", "--dpi", "40", "-o", "all.png", "--save-data", "all.json")
    assert every.exit_code == 0, every.output
    # Ranked by the detector's score (a box's own "score" is the RoI head's on it).
    scores = sorted((b["detection"]["score"]
                     for b in json.loads(Path("all.json").read_text())["boxes"]), reverse=True)
    assert len(scores) >= 3, scores
    top = run("roi", samples / "scene_001.png", "--top", "2", "--min-score", "0.05", "--size",
              "256", "--dpi", "40", "-o", "top.png", "--save-data", "top.json")
    assert top.exit_code == 0, top.output
    kept = [b["detection"]["score"] for b in json.loads(Path("top.json").read_text())["boxes"]]
    assert sorted(kept, reverse=True) == scores[:2]
    cut = (scores[1] + scores[2]) / 2 if scores[1] > scores[2] else scores[0]
    sure = run("roi", samples / "scene_001.png", "--top", "100", "--min-score", f"{cut:.6f}",
               "--size", "256", "--dpi", "40", "-o", "sure.png", "--save-data", "sure.json")
    assert sure.exit_code == 0, sure.output
    sure_boxes = json.loads(Path("sure.json").read_text())["boxes"]
    assert sure_boxes and all(b["detection"]["score"] >= cut for b in sure_boxes)
    default = run("roi", samples / "scene_001.png", "--min-score", "0.05", "--size", "256",
                  "--dpi", "40", "-o", "d.png", "--save-data", "d.json")
    from deformviz.cli.commands.roi import DEFAULT_TOP

    assert len(json.loads(Path("d.json").read_text())["boxes"]) == min(DEFAULT_TOP, len(scores))


def test_roi_boxes_crossing_the_border_are_clipped_with_a_note(run, samples: Path) -> None:
    # chelsea.jpg is 451 x 300: box 2 spills over the right and bottom edges.
    result = run("roi", samples / "chelsea.jpg", "--box", "40", "60", "300", "280", "--box",
                 "200", "-4", "455", "303", "--size", "128", "--dpi", "40", "-o", "c.png",
                 "--save-data", "c.json")
    assert result.exit_code == 0, result.output
    notes = result.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: ") and "box(es) 2 cross" in notes[0]
    boxes = [b["box"] for b in json.loads(Path("c.json").read_text())["boxes"]]
    assert boxes == [[40, 60, 300, 280], [200, 0, 451, 300]]
    refused = run("roi", samples / "chelsea.jpg", "--box", "200", "4", "455", "303",
                  "--no-clip", "-o", "n.png")
    assert refused.exit_code == 2 and "is outside the image" in refused.stderr
    assert not Path("n.png").exists()
