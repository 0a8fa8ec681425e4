"""A catalogue read in partitions: the driver plans them, each task reads its own.

Planning touches only what it must (a header line, Parquet footers, a folder listing), never the
rows, so it is cheap however large the catalogue:

    .csv, .jsonl   byte ranges cut at line ends (a CSV value may not hold a line break; JSONL is
                   one object per line by definition)
    .parquet       row groups, of one file or of a folder of `*.parquet` files
    image folder   the sorted image paths, as `load_image_folder(labelled=False)` lists them

A partition reads into the same `Items` a local load gives for its rows: ids as the catalogue's
(tables: int64 when all are plain integers, else text, as `simsearch.data.records.table_ids`
decides; a file whose ids are integers in one partition only fails the build on mixed id kinds) or
paths relative to the folder (images), the `label` column or class folder as the class. Column
types come from the model (`numeric_fields` become float32, NaN where empty; every other field
stays text), where a local load guesses them from the values: the two agree unless a text field
holds only numbers. As in `load_table`, the id column is required, the other columns are kept
in `Items.metadata`, and a CSV row with more or fewer cells than the header is an error.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.data.loaders import csv_field_limit, decode_error, text_codec
from simsearch.data.records import table_ids
from simsearch.errors import ConfigError, DataError
from simsearch.validation import MAX_TEXT_CHARS, check_text

__all__ = ["CatalogSpec", "Partition", "plan_partitions", "read_partition"]

_FEW = 5


@dataclass(frozen=True)
class CatalogSpec:
    """What to read from each row: content fields (tables) or the image size and channels.

    Args:
        fields: content columns of a table.
        numeric_fields: those of `fields` read as float32.
        image_size: `(h, w)` images are resized to; None keeps a folder's own (common) size.
        channels: 1 or 3 for images (None: 3 where a partition has colour, else 1).
        id_column: the table column holding unique ids (required).
        label_column: the table column holding class names, when present.
        encoding: the text encoding of CSV and JSONL catalogues.
    """

    fields: tuple[str, ...] = ()
    numeric_fields: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    id_column: str = "id"
    label_column: str = "label"
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Partition:
    """One task's share of a catalogue.

    `kind` is `"csv"`, `"jsonl"` (bytes `start:stop` of `path`, cut at line ends), `"parquet"`
    (`row_groups`: `(file, group)` pairs) or `"images"` (`paths` relative to the folder `path`).
    """

    number: int
    path: str
    kind: str
    start: int = 0
    stop: int = 0
    header: tuple[str, ...] = ()
    row_groups: tuple[tuple[str, int], ...] = ()
    paths: tuple[str, ...] = field(default=(), repr=False)


def plan_partitions(
    path: str | os.PathLike[str], n_partitions: int, encoding: str = "utf-8"
) -> list[Partition]:
    """Split the catalogue at `path` into at most `n_partitions` partitions (fewer when small);
    `encoding` is a CSV's, for its header.

    Example:
    >>> parts = plan_partitions("catalogue.csv", 16)
    >>> items = read_partition(parts[0], CatalogSpec(fields=("name", "price"), numeric_fields=("price",)))
    """
    if isinstance(n_partitions, bool) or not isinstance(n_partitions, int) or n_partitions < 1:
        raise ConfigError(f"Expected n_partitions >= 1. Received: n_partitions={n_partitions!r}")
    root = Path(path)
    suffix = root.suffix.lower()
    if root.is_dir() and not _parquet_files(root):
        return _image_partitions(root, n_partitions)
    if suffix == ".parquet" or root.is_dir():
        return _parquet_partitions(root, n_partitions)
    if suffix in (".csv", ".jsonl") and root.is_file():
        return _byte_partitions(root, suffix[1:], n_partitions, encoding)
    raise DataError(
        "Expected a .csv, .jsonl or .parquet file, a folder of .parquet files or an image folder "
        f"to read in partitions. Received: '{root}'" + ("" if root.exists() else " (missing)")
    )


def read_partition(partition: Partition, spec: CatalogSpec) -> Items:
    """Read one partition as `Items` (unlabelled rows get label -1)."""
    if partition.kind == "images":
        return _read_images(partition, spec)
    if partition.kind == "parquet":
        columns = _parquet_columns(partition, spec)
    else:
        columns = _text_columns(partition, spec)
    return _table_items(columns, spec, partition)


# ---- planning ---------------------------------------------------------------------------------


def _byte_partitions(path: Path, kind: str, n_partitions: int, encoding: str) -> list[Partition]:
    size = path.stat().st_size
    with path.open("rb") as f:
        header: tuple[str, ...] = ()
        if kind == "csv":
            first = f.readline()
            header = tuple(next(csv.reader([_decode_text(first, encoding, str(path))]), []))
            if not header:
                raise DataError(f"Expected a header line in '{path}'. Received: an empty file")
        begin = f.tell()
        targets = np.linspace(begin, size, n_partitions + 1)[1:-1].astype(np.int64)
        cuts = [begin, *_row_ends(f, begin, targets, quoted=kind == "csv"), size]
    bounds = sorted(set(cuts))
    return [
        Partition(number, str(path), kind, start, stop, header)
        for number, (start, stop) in enumerate(itertools.pairwise(bounds))
    ]


def _row_ends(
    f: Any, begin: int, targets: npt.NDArray[np.int64], *, quoted: bool, block: int = 1 << 26
) -> list[int]:
    """Return, per target offset, the offset just past the first row end at or after it.

    A row ends at a line break outside quotes: for CSV the file is scanned once from `begin`,
    counting quote characters (an escaped quote `""` counts twice, so parity is kept), at
    memory-bandwidth speed. JSON lines cannot hold a raw line break, so any one ends a row.
    """
    out: list[int] = []
    f.seek(begin)
    offset, parity, pending = begin, 0, list(targets.tolist())
    while pending:
        data = f.read(block)
        if not data:
            break
        arr = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(arr == 10)
        if quoted:
            inside = (np.cumsum(arr == 34) + parity) % 2
            ends = ends[inside[ends] == 0]
            parity = int(inside[-1])
        ends = ends + offset + 1
        while pending and len(ends) and ends[-1] > pending[0]:
            out.append(int(ends[np.searchsorted(ends, pending.pop(0), side="right")]))
        offset += len(data)
    return out + [offset] * len(pending)


def _parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.parquet") if p.is_file() and not p.name.startswith((".", "_")))


def _parquet_partitions(root: Path, n_partitions: int) -> list[Partition]:
    pq = _parquet()
    files = _parquet_files(root) if root.is_dir() else [root]
    if not files or not files[0].is_file():
        raise DataError(f"Expected a Parquet file or a folder of them. Received: '{root}' (none found)")
    groups, rows = [], []
    for file in files:
        meta = pq.ParquetFile(file).metadata
        for g in range(meta.num_row_groups):
            groups.append((str(file), g))
            rows.append(meta.row_group(g).num_rows)
    cuts = _balanced_cuts(np.asarray(rows, np.int64), n_partitions)
    return [
        Partition(number, str(root), "parquet", row_groups=tuple(groups[a:b]))
        for number, (a, b) in enumerate(itertools.pairwise(cuts))
    ]


def _image_partitions(root: Path, n_partitions: int) -> list[Partition]:
    from simsearch.data.image_folder import IMAGE_SUFFIXES, folder_tree

    paths = [rel.as_posix() for rel in sorted(folder_tree(root))]
    if not paths:
        raise DataError(f"Expected images ({', '.join(IMAGE_SUFFIXES)}). Received: none in '{root}'")
    cuts = _balanced_cuts(np.ones(len(paths), np.int64), n_partitions)
    return [
        Partition(number, str(root), "images", paths=tuple(paths[a:b]))
        for number, (a, b) in enumerate(itertools.pairwise(cuts))
    ]


def _balanced_cuts(sizes: npt.NDArray[np.int64], n_partitions: int) -> list[int]:
    """Cut `len(sizes)` consecutive units into at most `n_partitions` runs of similar total size."""
    ends = np.cumsum(sizes)
    targets = ends[-1] * np.arange(1, n_partitions) / n_partitions if len(ends) else []
    cuts = [0, *(int(np.searchsorted(ends, t, side="left")) + 1 for t in targets), len(sizes)]
    return sorted(set(min(c, len(sizes)) for c in cuts))


# ---- reading ----------------------------------------------------------------------------------


def _text_columns(partition: Partition, spec: CatalogSpec) -> dict[str, list[str]]:
    with open(partition.path, "rb") as f:
        f.seek(partition.start)
        text = _decode_text(f.read(partition.stop - partition.start), spec.encoding, partition.path)
    if partition.kind == "csv":
        header, rows = list(partition.header), _csv_rows(text, partition)
    else:
        records = _json_records(text, partition)
        header = list(dict.fromkeys(key for record in records for key in record))
        rows = [[_json_cell(record.get(key)) for key in header] for record in records]
        for row in rows:
            for key, cell in zip(header, row, strict=True):
                check_text(cell, f"column {key!r} of '{partition.path}'")
    position = {name: i for i, name in enumerate(header)}
    wanted = _wanted_columns(spec, header, partition)
    return {name: [row[position[name]].strip() for row in rows] for name in wanted}


def _decode_text(data: bytes, encoding: str, path: str) -> str:
    try:
        return data.decode(text_codec(encoding))
    except UnicodeDecodeError as exc:
        raise decode_error(exc, encoding, path) from None


def _csv_rows(text: str, partition: Partition) -> list[list[str]]:
    width = len(partition.header)
    csv_field_limit()
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise DataError(
            f"Expected a CSV file with fields of at most {MAX_TEXT_CHARS} characters (MAX_TEXT_CHARS) "
            f"in '{partition.path}'. Received: {exc}"
        ) from None
    bad = [i for i, row in enumerate(rows) if len(row) != width]
    if bad:
        raise DataError(
            f"Expected {width} cells per row (the header's) in '{partition.path}' (bytes "
            f"{partition.start}:{partition.stop}). Received: {len(bad)} rows with more or fewer, the "
            f"first with {len(rows[bad[0]])}; a value with a line break cannot be split into "
            "partitions: use JSONL or Parquet, or --engine local"
        )
    return rows


def _json_records(text: str, partition: Partition) -> list[dict[str, Any]]:
    try:
        records = [json.loads(line) for line in text.split("\n") if line.strip()]
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer too long to read
        got = "a value nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise DataError(f"Expected JSON lines in '{partition.path}'. Received: {got}") from None
    if not all(isinstance(record, dict) for record in records):
        raise DataError(f"Expected one JSON object per line in '{partition.path}'. Received: another value")
    return records


def _json_cell(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parquet_columns(partition: Partition, spec: CatalogSpec) -> dict[str, list[Any]]:
    pq = _parquet()
    out: dict[str, list[Any]] = {}
    for file, group in partition.row_groups:
        reader = pq.ParquetFile(file)
        header = reader.schema_arrow.names
        wanted = _wanted_columns(spec, header, partition)
        table = reader.read_row_group(group, columns=wanted)
        for name in wanted:
            values = ["" if v is None else v for v in table.column(name).to_pylist()]
            out.setdefault(name, []).extend(values)
    return out


def _wanted_columns(spec: CatalogSpec, header: Sequence[str], partition: Partition) -> list[str]:
    if not spec.fields:
        raise ConfigError("Expected the content fields of the catalogue. Received: none")
    if spec.id_column not in header:
        raise DataError(
            f"Expected an id column {spec.id_column!r} in '{partition.path}' (name another with "
            f"--id-column). Received: columns={list(header)}"
        )
    missing = [name for name in spec.fields if name not in header]
    if missing:
        raise DataError(
            f"Expected columns {[spec.id_column, *spec.fields]} in '{partition.path}'. "
            f"Received: columns={list(header)} (missing {missing})"
        )
    repeated = sorted({name for name in header if list(header).count(name) > 1})
    if repeated:
        raise DataError(
            f"Expected distinct column names in '{partition.path}'. Received: {repeated} repeated"
        )
    label = [spec.label_column] if spec.label_column in header else []
    kept = [name for name in header if name not in (spec.id_column, spec.label_column, *spec.fields)]
    return [spec.id_column, *label, *spec.fields, *kept]


def _table_items(columns: dict[str, list[Any]], spec: CatalogSpec, partition: Partition) -> Items:
    ids = table_ids([str(v) for v in columns.get(spec.id_column, [])])
    if spec.label_column in columns:
        classes = tuple(sorted({str(v) for v in columns[spec.label_column]}))
        code = {name: i for i, name in enumerate(classes)}
        labels = np.array([code[str(v)] for v in columns[spec.label_column]], np.int64)
    else:
        classes, labels = (), np.full(len(ids), -1, np.int64)
    fields = {
        name: _numbers(columns[name], name, partition)
        if name in spec.numeric_fields
        else np.array([str(v) for v in columns[name]], dtype=str)
        for name in spec.fields
    }
    kept = [name for name in columns if name not in (spec.id_column, spec.label_column, *spec.fields)]
    metadata = {name: _kept_column(columns[name]) for name in kept}
    return Items(ids=ids, labels=labels, classes=classes, fields=fields, metadata=metadata)


def _kept_column(values: list[Any]) -> npt.NDArray[np.object_]:
    """A column beside the content, as metadata: None where empty (or NaN), text as it is,
    numbers and booleans of Parquet as they are, anything else (dates, lists) as its text."""
    out = np.empty(len(values), object)
    out[:] = [_kept_value(value) for value in values]
    return out


def _kept_value(value: Any) -> Any:
    if value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def _numbers(values: list[Any], name: str, partition: Partition) -> npt.NDArray[np.float32]:
    out = np.empty(len(values), np.float32)
    for i, value in enumerate(values):
        try:
            out[i] = np.nan if value == "" else float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"Expected numbers in field {name!r} of '{partition.path}'. Received: {value!r}"
            ) from None
    return out


def _read_images(partition: Partition, spec: CatalogSpec) -> Items:
    from simsearch.data.image_folder import decode_image, stack_images

    root = Path(partition.path)
    rels = [PurePosixPath(p) for p in partition.paths]
    pictures = [decode_image((root / rel).read_bytes, f"'{rel}' in '{root}'") for rel in rels]
    folders = [rel.parent.as_posix() for rel in rels]
    classes = tuple(sorted({f for f in folders if f != "."}))
    code = {name: i for i, name in enumerate(classes)}
    return Items(
        ids=np.array(partition.paths),
        labels=np.array([code.get(f, -1) for f in folders], np.int64),
        classes=classes,
        images=stack_images(pictures, spec.image_size, spec.channels, root),
    )


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(
            'Expected pyarrow for Parquet catalogues: pip install "simsearch[dask]". '
            "Received: no module named pyarrow"
        ) from exc
    return pq
