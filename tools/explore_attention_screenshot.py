"""Regenerates the README's screenshot of `deformviz explore` for a deformable-attention network
(docs/gallery/explore_attention.png).

The folder is tools/make_attention_gallery.py's: Deformable DETR, transformers' default
configuration on its ResNet-50, random weights (the page shows the layout, not what a trained
model looks at). The page is written for samples/chelsea.jpg, opened in headless Chromium
(chromium + chromium-driver from Debian, selenium from PyPI; see .ci/install_browser.sh), the
best detection is pinned and the window saved.

Usage: python tools/explore_attention_screenshot.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from make_attention_gallery import write_folder  # noqa: E402

from tests.explore.browser import open_page, point_at, start_browser  # noqa: E402

IMAGE = "samples/chelsea.jpg"
OUTPUT = ROOT / "docs" / "gallery" / "explore_attention.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        # Short names on the page (its title and copied command): run inside the folder.
        page = Path(folder) / "explore.html"
        write_folder(Path(folder) / "deformable-detr")
        shutil.copy(ROOT / IMAGE, Path(folder) / Path(IMAGE).name)
        subprocess.run([sys.executable, "-m", "deformviz", "explore", Path(IMAGE).name,
                        "--model", "deformable-detr", "-o", str(page), "--score-threshold", "0"],
                       cwd=folder, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        driver = start_browser(Path(folder) / "profile")
        try:
            driver.set_window_size(1280, 900)
            open_page(driver, page)
            box = driver.execute_script("return window.deformvizExplore.data.detections[0].box")
            point_at(driver, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, click=True)
            point_at(driver, 2.0, 2.0)  # off the detection: the pinned query at full strength
            OUTPUT.write_bytes(driver.get_screenshot_as_png())
        finally:
            driver.quit()
    print(OUTPUT)


if __name__ == "__main__":
    main()
