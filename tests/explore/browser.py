"""A headless Chromium driven through its WebDriver, for the explore page's tests.

`start_browser()` returns a selenium driver, or raises `BrowserMissing` with the reason when
selenium, chromium or chromedriver is not installed (the tests then skip with that reason;
CI installs them with .ci/install_browser.sh). The driver path is given explicitly, so
selenium never tries to download one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

__all__ = ["BrowserMissing", "start_browser", "open_page", "point_at", "copy_command",
           "console_errors", "network_requests"]

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000",
                  "--force-device-scale-factor=1")


class BrowserMissing(RuntimeError):
    """selenium, chromium or chromedriver is not installed."""


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def start_browser(profile: Path | None = None):
    """A headless Chromium with a fresh profile, console and network logging on."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserMissing("selenium is not installed (pip install selenium)") from None
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if chromium is None or driver_path is None:
        raise BrowserMissing("chromium and chromedriver are not installed (apt-get install "
                             "chromium chromium-driver; see .ci/install_browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = profile or Path(tempfile.mkdtemp(prefix="deformviz-chromium-"))
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def open_page(driver, path: Path, timeout: float = 20) -> None:
    """Open a local page after emptying the logs (the browser's own start-up pages fill them),
    and wait until the explore page says it is ready."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))


def console_errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call (errors, CSP violations, ...)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def network_requests(driver) -> list[str]:
    """URLs of every request a local (file:) page made since the last call, except file: and
    data: ones: from the DevTools protocol's log (requests whose document is a file: page; the
    browser's own chrome:// pages are not ours), plus any resource the current page's
    Performance API lists."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            if params.get("documentURL", "").startswith("file:"):
                urls.append(params["request"]["url"])
    urls += driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in urls if not url.startswith(("file:", "data:"))]


def point_at(driver, x: float, y: float, click: bool = False) -> tuple[float, float]:
    """Move the pointer (and click) over original pixel (x, y); returns the image pixel the
    pointer actually lands on (the viewport takes whole CSS pixels)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    view = driver.execute_script("return window.deformvizExplore.view()")
    client = (round(view["left"] + (x + 0.5) * view["scale"]),
              round(view["top"] + (y + 0.5) * view["scale"]))
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(*client)
    if click:
        actions.pointer_action.click()
    actions.perform()
    x = (client[0] - view["left"]) / view["scale"] - 0.5
    y = (client[1] - view["top"]) / view["scale"] - 0.5
    width, height = driver.execute_script(
        "const i = window.deformvizExplore.data.image; return [i.width, i.height]")
    # A pixel's left half lies below its index: keep the unit request inside [0, W) x [0, H).
    return min(max(x, 0.0), width - 0.01), min(max(y, 0.0), height - 0.01)


def copy_command(driver, timeout: float = 10) -> str:
    """Click the page's "copy command" button; returns the text it copied (also checked to be
    the text shown in the command box)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.deformvizExplore.forgetCopied()")
    driver.find_element("id", "copy").click()
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return window.deformvizExplore.lastCopied()") is not None)
    copied = driver.execute_script("return window.deformvizExplore.lastCopied()")
    assert copied == driver.find_element("id", "command").get_attribute("value")
    return copied
