"""The explore page: one self-contained HTML file from a description (`ExploreData` of a
convolutional network, `AttentionExploreData` of a deformable-attention one).

The page is the skeleton `assets/page.html` with the page's body (`assets/explore_body.html`,
`assets/explore_attention_body.html`), the stylesheet, the shared helpers (`assets/common.js`),
its script and the description's JSON inlined: no server, no network, no CDN (its Content-Security-Policy forbids every fetch except
data: images), so it opens from disk in any current browser.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path

from deformviz.atomic_files import atomic_write
from deformviz.errors import OutputError

from .attention_description import AttentionExploreData
from .description import ExploreData

__all__ = ["render_page", "write_page", "check_page_path", "PAGE_SUFFIXES"]

PAGE_SUFFIXES = (".html", ".htm")
_SLOT = re.compile(r"\{\{(TITLE|STYLE|BODY|SCRIPT|DATA)\}\}")


def _asset(name: str) -> str:
    return resources.files("deformviz.explore").joinpath("assets", name).read_text("utf-8")


def render_page(data: ExploreData | AttentionExploreData) -> bytes:
    """The page's bytes (UTF-8 HTML)."""
    name = "explore_attention" if isinstance(data, AttentionExploreData) else "explore"
    script = _asset("common.js") + "\n" + _asset(f"{name}.js")
    values = {
        "TITLE": html.escape(f"deformviz explore: {Path(data.image_name).name}"),
        "STYLE": _asset("explore.css"),
        "BODY": _asset(f"{name}_body.html"),
        "SCRIPT": script.replace("</", "<\\/"),
        "DATA": data.to_json(),
    }
    # One pass, so text inserted for one slot (an image name, say) is never read as another.
    return _SLOT.sub(lambda match: values[match.group(1)], _asset("page.html")).encode("utf-8")


def check_page_path(path: Path) -> None:
    """OutputError unless `path` names an .html/.htm file."""
    if Path(path).suffix.lower() not in PAGE_SUFFIXES:
        raise OutputError(f"{path}: the page is HTML; give an output file ending in .html")


def write_page(data: ExploreData | AttentionExploreData, path: str | Path) -> Path:
    """Write the page to `path` atomically (nothing half-written on failure). Returns the path."""
    path = Path(path)
    check_page_path(path)
    payload = render_page(data)
    with atomic_write(path) as handle:
        handle.write(payload)
    return path
