"""Pairs and groups as CSV, JSONL or Parquet files, chosen by the path's extension.

Pairs have the columns `left_id, right_id, distance, score` (score empty in CSV, null in JSONL
and Parquet, when the pairs were not re-scored), and `explain` when asked for (`dedup --explain`:
one compact JSON text per pair); groups have `id, group`. Every write goes to a
temporary file in the same folder, renamed over the final name once complete, so a job stopped
part-way never leaves a half-written file there. Parquet needs pyarrow (`pip install
"simsearch[parquet]"`).

CSV does not keep types: reading it back, ids that all look like integers (`"12"`, not
`"012"`) come back as int; use JSONL or Parquet to keep string ids such as `"12"` as strings.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError, DataError, OutputFileError
from simsearch.index.checks import IdArray, check_ids

__all__ = [
    "FORMATS",
    "GROUP_COLUMNS",
    "PAIR_COLUMNS",
    "check_output_path",
    "read_groups",
    "read_links",
    "read_pairs",
    "write_groups",
    "write_pairs",
]

FORMATS = (".csv", ".jsonl", ".parquet")
PAIR_COLUMNS = ("left_id", "right_id", "distance", "score")
GROUP_COLUMNS = ("id", "group")

Columns = dict[str, list[Any]]


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Return `path` if a pairs or groups file can be written there, else raise.

    Call it before a long job, so that a typo in the path fails at once.

    Raises:
        ConfigError: an extension other than `.csv`, `.jsonl`, `.parquet`; Parquet without pyarrow.
        OutputFileError: a folder that does not exist or cannot be written, or a path that is a folder.
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"Expected an output path ending in {', '.join(FORMATS)}. Received: '{path}'")
    if path.suffix.lower() == ".parquet":
        _pyarrow()
    folder = path.parent
    if not folder.is_dir():
        raise OutputFileError(
            f"Expected an output path in an existing folder. Received: '{path}' ('{folder}' does not exist)"
        )
    if path.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        why = "a folder" if path.is_dir() else f"'{folder}' is not writable"
        raise OutputFileError(f"Expected a writable output file path. Received: '{path}' ({why})")
    return path


def write_pairs(
    pairs: DuplicatePairs, path: str | os.PathLike[str], *, explain: Sequence[str] | None = None
) -> Path:
    """Write pairs to `path` (`.csv`, `.jsonl` or `.parquet`), atomically; returns the path.

    `explain`, one text per pair (`Explanation.to_json`), adds an `explain` column.

    Example:
    >>> write_pairs(find_duplicates(index, PairFilter(max_distance=0.05)), "out/pairs.parquet")
    """
    if not isinstance(pairs, DuplicatePairs):
        raise DataError(f"Expected pairs as DuplicatePairs. Received: {type(pairs).__name__}")
    scores = [None] * len(pairs) if pairs.scores is None else _floats(pairs.scores)
    columns = {
        "left_id": pairs.left_ids.tolist(),
        "right_id": pairs.right_ids.tolist(),
        "distance": _floats(pairs.distances),
        "score": scores,
    }
    if explain is not None:
        if len(explain) != len(pairs):
            raise DataError(f"Expected one explanation per pair ({len(pairs)}). Received: {len(explain)}")
        columns["explain"] = list(explain)
    return _write(columns, path)


def write_groups(
    ids: Sequence[Any] | npt.ArrayLike, groups: Sequence[int] | npt.ArrayLike, path: str | os.PathLike[str]
) -> Path:
    """Write one `(id, group)` row per item to `path`, atomically; returns the path.

    Example:
    >>> write_groups(index.ids, group_pairs(index.ids, pairs, max_distance=0.05), "out/groups.csv")
    """
    ids = check_ids(ids, None, None, unique=False)
    values = np.asarray(groups)
    if values.shape != ids.shape or (len(values) and values.dtype.kind not in "iu"):
        raise DataError(
            f"Expected one int group per id ({len(ids)}). Received: groups of shape {values.shape}, "
            f"dtype {values.dtype}"
        )
    return _write({"id": ids.tolist(), "group": values.astype(np.int64).tolist()}, path)


def read_pairs(path: str | os.PathLike[str]) -> DuplicatePairs:
    """Read pairs written by `write_pairs`."""
    columns = _read(path, PAIR_COLUMNS)
    scores = columns["score"]
    missing = [s is None or s == "" for s in scores]
    if any(missing) and not all(missing):
        raise DataError(
            f"Expected a score on every row or on none. Received: {sum(missing)} rows without in '{path}'"
        )
    return DuplicatePairs(
        _ids(columns["left_id"]),
        _ids(columns["right_id"]),
        np.array(columns["distance"], np.float64).astype(np.float32),
        None if all(missing) else np.array(scores, np.float64).astype(np.float32),
    )


def read_groups(path: str | os.PathLike[str]) -> tuple[IdArray, npt.NDArray[np.int64]]:
    """Read `(ids, groups)` written by `write_groups`, e.g. the existing groups for `assign_groups`."""
    columns = _read(path, GROUP_COLUMNS)
    return _ids(columns["id"]), np.array([int(g) for g in columns["group"]], np.int64)


def read_links(path: str | os.PathLike[str], *, ordered: bool = False) -> set[tuple[str, str]]:
    """The links a file names, as `(id, id)` text pairs: a pairs file's rows (`left_id,
    right_id`, as `dedup` and `match` write them or as true links are listed; rows with a `label`
    other than 1 left out), or every pair within a group of a groups file (`id, group`).

    Unordered pairs (`ordered=False`, pairs within one catalogue) are written smaller id first;
    `ordered=True` keeps `left_id` (catalogue A) then `right_id` (catalogue B), as `match`
    writes them: with ids shared by A and B, (A 5, B 7) is another link than (A 7, B 5).

    Example:
    >>> read_links("groups.csv")  # id,group: a,1 / b,1 / c,2
    {('a', 'b')}
    """
    columns = _read(path, [])
    if "id" in columns and "group" in columns:
        members: dict[str, list[str]] = {}
        for item, group in zip(columns["id"], columns["group"], strict=True):
            members.setdefault(str(group), []).append(str(item))
        pairs = [(a, b) for ids in members.values() for i, a in enumerate(ids) for b in ids[i + 1 :]]
        return {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    if "left_id" not in columns or "right_id" not in columns:
        raise DataError(
            f"Expected pair columns ['left_id', 'right_id'] or group columns ['id', 'group']. "
            f"Received: {list(columns)} in '{path}'"
        )
    labels = columns.get("label", [1] * len(columns["left_id"]))
    rows = zip(columns["left_id"], columns["right_id"], labels, strict=True)
    links = [(str(a), str(b)) for a, b, label in rows if str(label).strip() in ("1", "1.0", "True")]
    if ordered:
        return set(links)
    return {(min(a, b), max(a, b)) for a, b in links if a != b}


# ---- writing ---------------------------------------------------------------------------------


def _write(columns: Columns, path: str | os.PathLike[str]) -> Path:
    path = check_output_path(path)
    writer = _WRITERS[path.suffix.lower()]
    with _atomic(path) as f:
        writer(columns, f)
    return path


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file beside `path`; rename it to `path` once the block succeeds."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputFileError(f"Expected to write '{path}'. Received: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_csv(columns: Columns, f: IO[bytes]) -> None:
    with _text(f) as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(
            zip(*([("" if v is None else v) for v in col] for col in columns.values()), strict=True)
        )


def _write_jsonl(columns: Columns, f: IO[bytes]) -> None:
    names = list(columns)
    with _text(f) as text:
        for row in zip(*columns.values(), strict=True):
            text.write(json.dumps(dict(zip(names, row, strict=True))) + "\n")


def _write_parquet(columns: Columns, f: IO[bytes]) -> None:
    pa, pq = _pyarrow()
    types = {"distance": pa.float32(), "score": pa.float32(), "group": pa.int64()}
    table = pa.table({name: pa.array(values, type=types.get(name)) for name, values in columns.items()})
    pq.write_table(table, f)


_WRITERS: dict[str, Callable[[Columns, IO[bytes]], None]] = {
    ".csv": _write_csv,
    ".jsonl": _write_jsonl,
    ".parquet": _write_parquet,
}


@contextlib.contextmanager
def _text(f: IO[bytes]) -> Iterator[IO[str]]:
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    try:
        yield text
    finally:
        text.flush()
        text.detach()  # leave `f` open for the fsync


def _floats(values: npt.NDArray[np.float32]) -> list[float]:
    """float32 values as the shortest Python floats that read back to them (0.1, not 0.10000000149)."""
    return [float(text) for text in values.astype(np.float32).astype(str).tolist()]


# ---- reading ---------------------------------------------------------------------------------


def _read(path: str | os.PathLike[str], names: Sequence[str]) -> Columns:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"Expected a path ending in {', '.join(FORMATS)}. Received: '{path}'")
    try:
        columns = _READERS[suffix](path)
    except OSError as exc:
        raise DataError(f"Expected a readable file. Received: '{path}' ({exc.strerror or exc})") from exc
    if missing := [name for name in names if name not in columns]:
        raise DataError(
            f"Expected columns {list(names)}. Received: {list(columns)} in '{path}' (no {missing})"
        )
    return columns


def _read_csv(path: Path) -> Columns:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    return {name: [row[i] for row in body] for i, name in enumerate(header)}


def _read_jsonl(path: Path) -> Columns:
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    names = list(rows[0]) if rows else [*PAIR_COLUMNS, *GROUP_COLUMNS]
    return {name: [row.get(name) for row in rows] for name in names}


def _read_parquet(path: Path) -> Columns:
    _, pq = _pyarrow()
    return dict(pq.read_table(path).to_pydict())


_READERS: dict[str, Callable[[Path], Columns]] = {
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
    ".parquet": _read_parquet,
}

_INT = re.compile(r"-?(0|[1-9][0-9]*)")


def _ids(values: list[Any]) -> IdArray:
    """Ids as read: CSV text that is all canonical integers becomes int64."""
    if values and all(isinstance(v, str) and _INT.fullmatch(v) for v in values):
        return np.array([int(v) for v in values], np.int64)
    return check_ids(values, None, None, unique=False)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(
            'Expected pyarrow for Parquet files: pip install pyarrow (or "simsearch[parquet]"). '
            "Received: no module named pyarrow"
        ) from exc
    return pa, pq
