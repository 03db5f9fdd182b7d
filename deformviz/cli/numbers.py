"""Parsing the numbers of multi-value options (`--at X Y`, `--box X1 Y1 X2 Y2`).

`DeformvizGroup` joins the tokens after such an option with commas, so a value arrives here as
"120,80" (typing `--at 120,80` works too).
"""

from __future__ import annotations

import re

from deformviz.errors import InputError, finite_number

__all__ = ["parse_numbers"]


def parse_numbers(value: str, count: int, option: str,
                  error: type[InputError] = InputError) -> tuple[float, ...]:
    """`count` finite numbers from "a,b,..." (commas and/or spaces), else `error` (one line)."""
    parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    if len(parts) != count:
        raise error(f"{option} needs {count} numbers, got {value.replace(',', ' ')!r}")
    where = f"{option} {value.replace(',', ' ')}"
    return tuple(finite_number(part, where, error) for part in parts)
