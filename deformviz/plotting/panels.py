"""Shared drawing steps: image panels with wrapped titles and a legend that fits the width.

Text is measured with the Agg renderer (the fonts the files embed), so titles are wrapped to
their panel and the legend to the figure before the figure's height is decided: titles never
run into each other, the legend never runs off the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from deformviz.errors import InputError

from .layout import grid_layout, panel_grid
from .style import FONT_SIZE, MIN_FONT_SIZE

__all__ = ["image_panels", "text_width", "wrap_text", "title_size", "LEGEND_FONT_SIZE"]

LEGEND_FONT_SIZE = FONT_SIZE - 1
_TITLE_PAD = 2.0  # points between a title and its panel
_LINE = 1.25  # line height, in font sizes


@lru_cache(maxsize=4096)
def text_width(text: str, size: float) -> float:
    """Width in points of one line of `text` at `size` points in the figures' font."""
    from matplotlib.font_manager import FontProperties

    renderer = _renderer()
    width, _, _ = renderer.get_text_width_height_descent(
        text, FontProperties(family="DejaVu Sans", size=size), ismath=False)
    return float(width)  # at 72 dpi, pixels are points


@lru_cache(maxsize=1)
def _renderer():
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(10, 10, 72)


def wrap_text(text: str, size: float, width: float) -> list[str]:
    """`text` broken at spaces into lines at most `width` points wide (a word longer than
    the width gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def title_size(panel_width: float) -> float:
    """Title font size (points) for a panel `panel_width` inches wide: caption size, a point
    smaller on narrow panels."""
    return FONT_SIZE if panel_width >= 1.4 else max(FONT_SIZE - 1, MIN_FONT_SIZE)


def _wrapped_titles(titles: Sequence[str | None], panel_width: float,
                    size: float) -> list[str | None]:
    width_pt = panel_width * 72 - 2
    return [None if not t else "\n".join(wrap_text(t, size, width_pt)) for t in titles]


def _title_band(titles: Sequence[str | None], size: float) -> float:
    lines = max((t.count("\n") + 1 for t in titles if t), default=0)
    return 0.0 if lines == 0 else (lines * size * _LINE + _TITLE_PAD + 1.0) / 72


def _show_image(ax: Axes, image: np.ndarray) -> None:
    """`image` undistorted on `ax`; pixel (i, j) centred at (i, j) (matplotlib's default extent),
    so points in index coordinates go on as they are, continuous boxes shifted by -0.5."""
    height, width = image.shape[:2]
    ax.imshow(image, interpolation="antialiased", resample=True)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()


def _legend(figure: Figure, handles: Sequence[Artist], width: float):
    """A legend along the bottom, in as many columns as fit `width` inches. Returns it and its
    height in inches."""
    from matplotlib.backends.backend_agg import RendererAgg

    # A renderer of its own: measuring must not replace the canvas of a caller's figure.
    renderer = RendererAgg(int(width * figure.dpi) + 1, 100, figure.dpi)
    legend, box = _legend_in_columns(figure, handles, renderer, width - 0.02,
                                     loc="lower center", anchor=(0.5, 0.0), gap=0.1)
    return legend, box.height / figure.dpi + 0.02


def _legend_in_columns(figure: Figure, handles: Sequence[Artist], renderer, limit: float, *,
                       loc: str, anchor: tuple[float, float], gap: float):
    """A figure legend in as many columns as fit `limit` inches (at least one). Returns it
    and its extent (display pixels)."""
    legend = None
    for columns in range(len(handles), 0, -1):
        if legend is not None:
            legend.remove()
        legend = figure.legend(handles=list(handles), loc=loc, ncol=columns, frameon=False,
                               fontsize=LEGEND_FONT_SIZE, handlelength=1.2, handletextpad=0.4,
                               columnspacing=1.0, borderaxespad=gap, borderpad=0.1,
                               bbox_to_anchor=anchor)
        box = legend.get_window_extent(renderer)
        if box.width / figure.dpi <= limit - 0.02:
            break
    return legend, box


def _too_small(what: str, needs: float, room: float, fix: str) -> InputError:
    return InputError(f"ax: the axes leave {room:.2f} in {what}, which needs {needs:.2f} in; "
                      f"{fix}")


def _into_axes(image: np.ndarray, titles: Sequence[str | None],
               legend: Sequence[Artist] | None, ax) -> tuple[Figure, list[Axes]]:
    """Draw into the caller's axes; titles and legend kept inside the caller's figure.

    Titles are wrapped to their panel and take a point smaller font when that fits; the
    legend goes under the axes (centred on them, as many columns as their width holds).
    Where the figure has no room for them, InputError (a ValueError) says what is missing:
    the caller's layout is never moved.
    """
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(ax))
    if len(axes) != len(titles):
        raise InputError(f"ax: {len(titles)} panel(s) to draw, got {len(axes)} Axes")
    figure = axes[0].figure
    fig_w, fig_h = figure.get_size_inches()
    for panel, title in zip(axes, titles):
        _show_image(panel, image)
        panel.apply_aspect()  # where the image really is: an undistorted image shrinks its box
        if title:
            pos = panel.get_position()
            panel_w = pos.width * fig_w
            room = (1 - pos.y1) * fig_h
            for size in sorted({title_size(panel_w), MIN_FONT_SIZE}, reverse=True):
                wrapped = _wrapped_titles([title], panel_w, size)[0]
                needs = _title_band([wrapped], size)
                if needs <= room:
                    break
            else:
                raise _too_small("above them for the titles", needs, room,
                                 "leave more room at the top, or pass titles=False")
            panel.set_title(wrapped, fontsize=size, pad=_TITLE_PAD, linespacing=1.1)
    if legend:
        _legend_under(figure, axes, legend)
    return figure, axes


def _legend_under(figure: Figure, axes: Sequence[Axes], handles: Sequence[Artist]) -> None:
    """A legend centred under `axes`, as wide as they are (or the figure, if one column is
    wider), kept on the canvas; InputError when the figure has no room for it below them."""
    from matplotlib.backends.backend_agg import RendererAgg

    fig_w, fig_h = figure.get_size_inches()
    renderer = RendererAgg(int(fig_w * figure.dpi) + 1, int(fig_h * figure.dpi) + 1, figure.dpi)
    boxes = [panel.get_position() for panel in axes]
    left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    bottom = min(b.y0 for b in boxes)
    limits = ((right - left) * fig_w, fig_w)  # the axes' width, else the figure's
    for limit in limits:
        legend, box = _legend_in_columns(figure, handles, renderer, limit, loc="upper center",
                                         anchor=((left + right) / 2, bottom), gap=0.0)
        if box.width / figure.dpi <= limit - 0.02 or limit == limits[-1]:
            break
        legend.remove()
    width, height = box.width / figure.dpi, box.height / figure.dpi
    room = bottom * fig_h
    if width > fig_w or height > room:
        legend.remove()
        if width > fig_w:
            raise _too_small("across for the legend", width, fig_w,
                             "make the figure wider, or pass legend=False")
        raise _too_small("below them for the legend", height, room,
                         "leave more room at the bottom, or pass legend=False")
    # Centred under the axes but on the canvas: shifted in from an edge it would cross.
    centre = (left + right) / 2 * fig_w
    centre = min(max(centre, width / 2 + 0.01), fig_w - width / 2 - 0.01)
    legend.set_bbox_to_anchor((centre / fig_w, bottom), transform=figure.transFigure)


def image_panels(image: np.ndarray, titles: Sequence[str | None], width: float,
                 legend: Sequence[Artist] | None = None, *, fig: Figure | None = None,
                 ax: Axes | Sequence[Axes] | None = None) -> tuple[Figure, list[Axes]]:
    """One panel per title, each showing `image` (an [H, W, 3] array) undistorted.

    Without `ax`: a figure `width` inches wide (or `fig`, resized, if given), panels in rows
    (see `panel_grid`), titles wrapped to their panel, `legend` handles along the bottom.
    With `ax` (one Axes or one per title): draws into the caller's axes, titles and legend
    included, and leaves the layout alone.
    """
    if ax is not None:
        return _into_axes(image, titles, legend, ax)

    if fig is not None and fig.axes:
        raise InputError("fig: needs an empty Figure (use ax= to draw into existing axes)")
    figure = fig if fig is not None else Figure()
    columns, rows, panel_w = panel_grid(len(titles), width)
    size = title_size(panel_w)
    wrapped = _wrapped_titles(titles, panel_w, size)
    bands = [_title_band(wrapped[r * columns:(r + 1) * columns], size) for r in range(rows)]
    figure.set_size_inches(width, 1.0)
    legend_band = 0.0
    if legend:
        _, legend_band = _legend(figure, legend, width)
    layout = grid_layout(len(titles), image.shape[:2], width, bands, legend_band)
    figure.set_size_inches(layout.width, layout.height)
    axes = []
    for rect, title in zip(layout.axes_rects, wrapped):
        panel = figure.add_axes(rect)
        _show_image(panel, image)
        if title:
            panel.set_title(title, fontsize=size, pad=_TITLE_PAD, linespacing=1.1)
        axes.append(panel)
    return figure, axes
