"""The explore page: one self-contained HTML file from an `ExploreData` description.

The page is the template `assets/explore.html` with its stylesheet, script and the
description's JSON inlined: no server, no network, no CDN (its Content-Security-Policy forbids
every fetch except data: images), so it opens from disk in any current browser.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path

from deformviz.atomic_files import atomic_write
from deformviz.errors import OutputError

from .description import ExploreData

__all__ = ["render_page", "write_page", "check_page_path", "PAGE_SUFFIXES"]

PAGE_SUFFIXES = (".html", ".htm")
_SLOT = re.compile(r"\{\{(TITLE|STYLE|SCRIPT|DATA)\}\}")


def _asset(name: str) -> str:
    return resources.files("deformviz.explore").joinpath("assets", name).read_text("utf-8")


def render_page(data: ExploreData) -> bytes:
    """The page's bytes (UTF-8 HTML)."""
    values = {
        "TITLE": html.escape(f"deformviz explore: {Path(data.image_name).name}"),
        "STYLE": _asset("explore.css"),
        "SCRIPT": _asset("explore.js").replace("</", "<\\/"),
        "DATA": data.to_json(),
    }
    # One pass, so text inserted for one slot (an image name, say) is never read as another.
    return _SLOT.sub(lambda match: values[match.group(1)], _asset("explore.html")).encode("utf-8")


def check_page_path(path: Path) -> None:
    """OutputError unless `path` names an .html/.htm file."""
    if Path(path).suffix.lower() not in PAGE_SUFFIXES:
        raise OutputError(f"{path}: the page is HTML; give an output file ending in .html")


def write_page(data: ExploreData, path: str | Path) -> Path:
    """Write the page to `path` atomically (nothing half-written on failure). Returns the path."""
    path = Path(path)
    check_page_path(path)
    payload = render_page(data)
    with atomic_write(path) as handle:
        handle.write(payload)
    return path
