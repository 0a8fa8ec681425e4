"""A catalogue of the user's own vectors: `X.npy` `(n, d)`, one id a line, optional metadata rows.

    xb, ids, metadata = load_vectors("X.npy", "ids.txt", "meta.jsonl")

Ids follow the table rule (`simsearch.data.records.table_ids`): `int64` when every line is a
plain integer, else text. Metadata is a JSON-lines, CSV or Parquet file whose rows each carry an
`id` (written as in the ids file) and any other fields; every id needs exactly one row. Nothing is
guessed: a wrong shape or dtype, NaN/inf, a count that differs, a repeated, missing or extra id is
a `DataError` naming what was expected and what was received. Only numpy, the standard library
and (for Parquet) pyarrow: no model and no TensorFlow.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from simsearch.data.arrays import check_unique_ids
from simsearch.data.loaders import csv_field_limit, decode_error, text_codec
from simsearch.data.records import table_ids
from simsearch.errors import DataError
from simsearch.validation import check_text

__all__ = ["VectorCatalog", "load_vectors", "read_ids", "read_vectors"]

_FEW = 5  # how many offending values an error message names


class VectorCatalog(NamedTuple):
    """Vectors `(n, d) float32`, their ids `(n,)` (int64 or str) and per-row metadata (or None)."""

    embeddings: npt.NDArray[np.float32]
    ids: npt.NDArray[Any]
    metadata: list[dict[str, Any]] | None


def load_vectors(
    vectors: str | Path,
    ids: str | Path,
    metadata: str | Path | None = None,
    *,
    encoding: str = "utf-8",
) -> VectorCatalog:
    """Read `vectors` (.npy), `ids` (one a line) and `metadata` (.jsonl, .csv or .parquet) as one
    checked catalogue.

    Example:
    >>> catalog = load_vectors("X.npy", "ids.txt", "meta.jsonl")
    >>> catalog.embeddings.shape, catalog.ids[:2], catalog.metadata[0]
    ((100000, 128), array([17, 18]), {'brand': 'acme'})
    """
    xb = read_vectors(vectors)
    names = read_ids(ids, encoding)
    if len(names) != len(xb):
        raise DataError(
            f"Expected one id per row of '{vectors}': {len(xb)} ids. Received: {len(names)} lines in '{ids}'"
        )
    parsed = table_ids(names)
    check_unique_ids(parsed, ids)
    rows = None if metadata is None else _metadata(Path(metadata), names, encoding)
    return VectorCatalog(xb, parsed.astype(object) if parsed.dtype.kind == "U" else parsed, rows)


def read_vectors(path: str | Path) -> npt.NDArray[np.float32]:
    """Read an `.npy` file of `(n, d)` finite floats (float16/32/64) as C-contiguous float32."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"Expected a readable .npy file of vectors. Received: '{path}' ({exc})") from exc
    if not isinstance(arr, np.ndarray):  # an .npz
        raise DataError(f"Expected an .npy file (one array). Received: '{path}' holds several arrays")
    if arr.dtype.kind != "f":
        raise DataError(
            f"Expected float vectors (float16, float32 or float64) in '{path}'. Received: dtype={arr.dtype}"
        )
    if arr.ndim != 2 or 0 in arr.shape:
        raise DataError(
            f"Expected vectors of shape (n, d), n and d >= 1, in '{path}'. Received: shape={arr.shape}"
        )
    with np.errstate(over="ignore"):
        xb = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(xb).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        beyond = " (or beyond float32)" if arr.dtype != np.float32 else ""
        raise DataError(
            f"Expected finite vectors in '{path}'. Received: NaN or inf{beyond} in {rows.size} "
            f"row(s), first {rows[:_FEW].tolist()}"
        )
    return xb


def read_ids(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """Read one id a line (surrounding spaces dropped); an empty line is an error, not a skip,
    since it would shift every id after it onto another vector."""
    path = Path(path)
    try:
        text = path.read_text(encoding=text_codec(encoding))
    except UnicodeDecodeError as exc:
        raise decode_error(exc, encoding, path) from None
    except OSError as exc:
        raise DataError(f"Expected a readable ids file. Received: '{path}' ({exc})") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    names = [line.rstrip("\r").strip() for line in lines]
    empty = [i + 1 for i, name in enumerate(names) if not name]
    if empty:
        raise DataError(f"Expected one non-empty id a line in '{path}'. Received: empty lines {empty[:_FEW]}")
    return [check_text(name, f"line {i + 1} of '{path}'") for i, name in enumerate(names)]


def _metadata(path: Path, names: list[str], encoding: str) -> list[dict[str, Any]]:
    """The metadata rows (less their `id`, which the index keeps) in the order of `names`; every
    id exactly once."""
    rows = _read_rows(path, encoding)
    by_id: dict[str, dict[str, Any]] = {}
    repeated: list[str] = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or row.get("id") is None:
            raise DataError(
                f"Expected an 'id' in every metadata row of '{path}'. Received: row {number} without"
            )
        key = _id_text(row["id"])
        if key in by_id:
            repeated.append(key)
        by_id[key] = row
    if repeated:
        raise DataError(
            f"Expected each id once in '{path}'. Received: {len(repeated)} repeated, e.g. {repeated[:_FEW]}"
        )
    wanted = set(names)
    missing = [name for name in names if name not in by_id]
    extra = [key for key in by_id if key not in wanted]
    if missing or extra:
        raise DataError(
            f"Expected one metadata row per id of the ids file in '{path}'. Received: "
            f"{len(missing)} ids without a row (e.g. {missing[:_FEW]}), {len(extra)} rows of unknown "
            f"ids (e.g. {extra[:_FEW]})"
        )
    return [{key: value for key, value in by_id[name].items() if key != "id"} for name in names]


def _id_text(value: Any) -> str:
    """An id as the ids file writes it: `17` and `"17"` are one id."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a CSV or Parquet column of ints read as floats
    return str(value).strip()


def _read_rows(path: Path, encoding: str) -> list[Any]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix not in (".jsonl", ".csv"):
        raise DataError(f"Expected metadata as .jsonl, .csv or .parquet. Received: '{path}'")
    try:
        with open(path, encoding=text_codec(encoding), newline="") as f:
            if suffix == ".csv":
                csv.field_size_limit(csv_field_limit())
                return list(csv.DictReader(f))
            return [_json_line(line, number, path) for number, line in enumerate(f, 1) if line.strip()]
    except UnicodeDecodeError as exc:
        raise decode_error(exc, encoding, path) from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"Expected a readable metadata file. Received: '{path}' ({exc})") from exc


def _json_line(line: str, number: int, path: Path) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"Expected one JSON object a line in '{path}'. Received: line {number} ({exc})"
        ) from None


def _read_parquet(path: Path) -> list[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f"Expected pyarrow to read '{path}'. Received: {exc}") from exc
    try:
        rows: list[Any] = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:
        raise DataError(f"Expected a readable Parquet file. Received: '{path}' ({exc})") from exc
    return rows
