"""The one record rule, and the one id rule: how a record and an id given by a user meet a model
and an index. Only numpy and the standard library: the CLI checks its inputs with it before
TensorFlow loads.

Records. A record is one item as a JSON object of fields, given on the command line
(`query --record`, `compare`), in Python (`SearchEngine.search(items=[{...}])`,
`SiameseModel.encode`) or over HTTP (`/search`, `/compare`, `/items`). A model reads fixed fields
(`input_fields`: its text fields, then its numeric ones). Everywhere:

- a record holds only fields the model reads: any other field is an error that names the model's
  fields (a misspelt field would otherwise be an empty one, and its hits arbitrary);
- a record may leave fields out: a field it lacks is a missing value (empty text, NaN number), as
  a blank cell in a catalogue file;
- a record holds at least one of the model's fields;
- a field's value is a text (valid Unicode, at most `simsearch.validation.MAX_TEXT_CHARS`
  characters), a finite number or null.

A catalogue's content (a dict of columns, `Items.content()`) holds every field the model reads,
as `load_table` checks when it reads the file.

Ids. A table's ids are the catalogue's: integers when every id is written as a plain integer
(`12`, not `012` or `+12`), else text. They keep that type in the index, in pair and group files
(CSV, JSONL, Parquet), in `query --json` and over HTTP.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError
from simsearch.validation import check_text

__all__ = ["check_records", "input_fields", "table_ids"]

_PLAIN_INT = re.compile(r"0|[1-9][0-9]{0,17}")  # below 2**63, without leading zeros or sign


def input_fields(spec: Mapping[str, Any]) -> list[str]:
    """The catalogue fields a model's input `spec` reads: its text fields, then its numeric ones
    (none for images)."""
    return [*spec.get("text_fields", []), *spec.get("numeric_fields", [])]


def check_records(records: Sequence[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Return `records` with every one of `fields` (None where a record leaves it out).

    Raises:
        DataError: an item that is not a JSON object, a field the model does not read, a
            record with none of its fields, or a value that is not a text, a finite number or null.

    Example:
    >>> check_records([{"name": "sony tv"}], ["name", "price"])
    [{'name': 'sony tv', 'price': None}]
    """
    wanted = list(fields)
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(
                f"Expected a JSON object with fields among {wanted} (the model's) as item {i}. "
                f"Received: {type(record).__name__}"
            )
        unknown = [name for name in record if name not in wanted]
        if unknown or not record:
            why = f"unknown: {unknown}" if unknown else "none of the model's"
            raise DataError(
                f"Expected a record with fields among {wanted} (the model's; any may be left out) "
                f"as item {i}. Received: fields {list(record)} ({why})"
            )
        for name, value in record.items():
            _check_value(value, f"field {name!r} of item {i}")
        out.append({name: record.get(name) for name in wanted})
    return out


def _check_value(value: Any, what: str) -> None:
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise DataError(f"Expected a finite number as {what}. Received: {value}")
    elif value is not None and not isinstance(value, bool):
        raise DataError(f"Expected a text, a number or null as {what}. Received: {type(value).__name__}")


def table_ids(values: Sequence[str]) -> npt.NDArray[np.generic]:
    """A table's id cells as the catalogue's ids: `(n,) int64` when every one is a plain integer,
    else `(n,) str`."""
    if len(values) and all(_PLAIN_INT.fullmatch(value) for value in values):
        return np.array([int(value) for value in values], dtype=np.int64)
    return np.array(values, dtype=str)
