"""Saving figures: format by extension, exact size, no timestamps, atomic replacement."""

from __future__ import annotations

import io
from pathlib import Path

from deformviz.atomic_files import atomic_write
from deformviz.errors import OutputError

__all__ = ["FIGURE_FORMATS", "figure_format", "render_figure", "save_figure"]

FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_format(path: str | Path) -> str:
    """"png", "pdf" or "svg" from the extension of `path`, else OutputError."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        shown = f".{suffix}" if suffix else "(no extension)"
        raise OutputError(f"{path}: unknown figure format {shown}; use .png, .pdf or .svg")
    return suffix


def render_figure(figure, fmt: str, dpi: float = 300) -> bytes:
    """The bytes of `figure` in format `fmt` at `dpi` (used for PNG and embedded rasters).

    Deterministic: no creation dates in PDF/SVG metadata, fixed SVG ids (`paper_style`). The
    photo is embedded unresampled in PDF/SVG (overlays stay vector on top of it) and resampled
    with antialiasing in PNG.
    """
    from .style import paper_style

    if fmt not in FIGURE_FORMATS:
        raise OutputError(f"unknown figure format {fmt!r}; use png, pdf or svg")
    if not 10 <= dpi <= 2400:
        raise OutputError(f"dpi must be between 10 and 2400, got {dpi:g}")
    for image in figure.images + [im for ax in figure.axes for im in ax.images]:
        image.set_interpolation("antialiased" if fmt == "png" else "none")
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None},
                "svg": {"Date": None}}[fmt]
    # zlib level 1: a 300-dpi three-panel PNG encodes in about a third of the default level's
    # time (0.12 s instead of 0.33 s) for a file about a quarter larger.
    options = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
    buffer = io.BytesIO()
    with paper_style():
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata, **options)
    return buffer.getvalue()


def save_figure(figure, path: str | Path, dpi: float = 300) -> Path:
    """Write `figure` to `path` (format from the extension), atomically. Returns the path."""
    path = Path(path)
    payload = render_figure(figure, figure_format(path), dpi)
    with atomic_write(path) as handle:
        handle.write(payload)
    return path
