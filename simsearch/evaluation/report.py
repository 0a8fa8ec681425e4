"""Plain-text tables of evaluation results, for the CLI and logs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["format_table"]


def _format_value(value: Any, digits: int) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, Integral):
        return f"{value:,}"
    if isinstance(value, Real):
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    if isinstance(value, tuple | list) and all(isinstance(v, Real | np.generic) for v in value):
        return "(" + ", ".join(_format_value(v, digits) for v in value) + ")"
    return str(value)


def _is_numeric(value: Any) -> bool:
    return isinstance(value, Real | np.number) and not isinstance(value, bool)


def _as_rows(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(rows, Mapping):
        return [{"metric": key, "value": value} for key, value in rows.items()]
    return list(rows)


def format_table(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], *, digits: int = 4) -> str:
    """Lay out results as an aligned text table.

    A dict becomes two columns, metric and value; a list of dicts becomes one row per dict, with
    the columns of all rows in order of first appearance (missing cells stay blank). Numbers are
    right-aligned, floats shown with `digits` decimals, ints with thousands separators. For a
    dataclass such as `OneShotResult`, pass `dataclasses.asdict(result)`.

    Example:
        >>> print(format_table({"recall@1": 0.9132, "n_queries": 1200}))
        metric     value
        ---------  ------
        recall@1   0.9132
        n_queries   1,200
    """
    table = _as_rows(rows)
    if not table:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in table for key in row))
    cells = [[_format_value(row.get(col), digits) for col in columns] for row in table]
    widths = [max(len(col), *(len(line[i]) for line in cells)) for i, col in enumerate(columns)]
    numeric = [[_is_numeric(row.get(col)) for col in columns] for row in table]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for line, flags in zip(cells, numeric, strict=True):
        padded = [
            cell.rjust(w) if is_num else cell.ljust(w)
            for cell, w, is_num in zip(line, widths, flags, strict=True)
        ]
        lines.append("  ".join(padded))
    return "\n".join(line.rstrip() for line in lines)
