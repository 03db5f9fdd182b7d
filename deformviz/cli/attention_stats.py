"""`deformviz stats` tables for deformable-attention models: one table per attention layer, the
size classes as columns, the spread and in-object share of its counted queries as rows (see
`deformviz.statistics.attention_queries` for what is counted and how)."""

from __future__ import annotations

__all__ = ["render_attention"]

_ROWS = (("spread_px", "spread (px)", ".1f"), ("spread_relative", "spread / √area", ".2f"),
         ("inside_share", "share in object", ".3f"))
_COUNTED = {"decoder": "decoder queries whose detection matched an object",
            "encoder": "encoder queries (cells) by what they sit on"}


def _cell(entry: dict | None, digits: str) -> str:
    if entry is None or entry["mean"] is None or entry["queries"] == 0:
        return "-"
    spread = entry["std"]  # None (read from JSON) or NaN (computed) for a single query
    std = "-" if spread is None or spread != spread else format(spread, digits)
    return f"{format(entry['mean'], digits)} ± {std}"


def render_attention(document: dict) -> list:
    """The attention result document as rich tables (one per layer, execution order)."""
    from rich import box
    from rich.table import Table

    from deformviz.statistics.size_classes import CLASSES

    settings = document["settings"]
    thresholds = settings["thresholds_px2"]
    sizes = (f"small < {thresholds['small_below'] ** 0.5:.0f}², large > "
             f"{thresholds['large_above'] ** 0.5:.0f}² px, by {settings['containment']}")
    tables: list = []
    for layer in settings["layers"]:
        row = document["attention"][layer]
        stage = row["stage"]
        table = Table(title=f"{layer}: {_COUNTED.get(stage, 'queries')}", box=box.SIMPLE_HEAD)
        table.add_column("", no_wrap=True)
        for name in CLASSES:
            table.add_column(name, justify="right", no_wrap=True)
        for index, (key, label, digits) in enumerate(_ROWS):
            table.add_row(label, *(_cell(row[name].get(key), digits) for name in CLASSES),
                          end_section=index == len(_ROWS) - 1)
        table.add_row("[dim]queries[/dim]",
                      *(f"[dim]{row[name]['spread_px']['queries']:,}[/dim]" for name in CLASSES))
        left_out = ("detections matching no object" if stage == "decoder"
                    else "cells on crowd regions only or off the image")
        table.caption = (f"attention-weighted, mean ± std over queries; {sizes}; left out: "
                         f"{row['left_out_queries']:,} {left_out}")
        tables.append(table)
    return tables
