"""Regenerates the README's screenshot of `deformviz explore` (docs/gallery/explore.png).

Writes the page for samples/scene_001.png with the bundled model, opens it in headless
Chromium (chromium + chromium-driver from Debian, selenium from PyPI; see
.ci/install_browser.sh), pins the three units `deformviz sample` picks by itself and saves the
window.

Usage: python tools/explore_screenshot.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.explore.browser import start_browser  # noqa: E402

IMAGE = "samples/scene_001.png"
OUTPUT = ROOT / "docs" / "gallery" / "explore.png"


def _pointer(driver, x: float, y: float, click: bool) -> None:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    left, top = driver.execute_script(f"return window.deformvizExplore.toClient({x}, {y})")
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(round(left), round(top))
    if click:
        actions.pointer_action.click()
    actions.perform()


def main() -> None:
    from deformviz.models.registry import load_model
    from deformviz.visualize import sample_locations

    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "explore.html"
        subprocess.run([sys.executable, "-m", "deformviz", "explore", IMAGE, "-o", str(page)],
                       cwd=ROOT, check=True)
        units = sample_locations(load_model(), ROOT / IMAGE, auto=3, levels=1).samplings
        driver = start_browser(Path(folder) / "profile")
        try:
            driver.set_window_size(1280, 1000)
            driver.get(page.as_uri())
            for sampling in units:
                _pointer(driver, *sampling.unit.pixel, click=True)
            # Leave the image: the pinned units, not a hovered one, are drawn at full strength.
            from selenium.webdriver.common.actions.action_builder import ActionBuilder

            actions = ActionBuilder(driver)
            actions.pointer_action.move_to_location(5, 5)
            actions.perform()
            OUTPUT.write_bytes(driver.get_screenshot_as_png())
        finally:
            driver.quit()
    print(OUTPUT)


if __name__ == "__main__":
    main()
