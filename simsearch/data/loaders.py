"""Load items from any source, and read tables and pair files.

`load_items` picks the reader by the path: image folders and zips (`simsearch.data.image_folder`),
`.npz` files (`simsearch.data.arrays`), or CSV / JSON-lines tables (read here, with pair files).
Only numpy, PIL and the standard library: importing this module never imports TensorFlow.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simsearch.data.arrays import check_unique_ids, encode_labels, load_arrays, load_npz
from simsearch.data.image_folder import load_image_folder, resize_images
from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.data.records import table_ids
from simsearch.errors import ConfigError, DataError
from simsearch.validation import MAX_TEXT_CHARS, check_text

__all__ = [
    "load_arrays",
    "load_image_catalog",
    "load_image_folder",
    "load_items",
    "load_npz",
    "load_pair_scores",
    "load_pairs",
    "load_table",
]


TABLE_SUFFIXES = (".csv", ".jsonl", ".json")
_FEW = 5  # how many offending values an error message names


def load_items(
    path: str | Path,
    *,
    fields: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    labelled: bool = True,
    id_column: str = "id",
    row_ids: bool | None = None,
    encoding: str = "utf-8",
) -> Items:
    """Load items from a path, choosing the reader by its kind.

    A folder or `.zip` is read by `load_image_folder`, `.npz` by `load_npz`, and `.csv`, `.jsonl`
    or `.json` by `load_table`.

    Args:
        path: the file or folder.
        fields: content columns of a table; only for tables.
        image_size: `(h, w)` to resize images to; only for images.
        labelled: False for a catalogue to index (image folders: no class folders needed).
        id_column, row_ids, encoding: for tables, as `load_table` takes them.

    Example:
        >>> items = load_items("data/omniglot_sample/background.npz", image_size=(28, 28))
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        if image_size is not None:
            raise ConfigError(f"Expected image_size=None for a table. Received: {image_size=}")
        return load_table(path, fields=fields, id_column=id_column, row_ids=row_ids, encoding=encoding)
    if fields is not None:
        raise ConfigError(f"Expected fields=None for images. Received: fields={list(fields)}")
    if suffix == ".npz":
        items = load_npz(path)
        if image_size is None or items.images is None:
            return items
        return Items(
            ids=items.ids,
            labels=items.labels,
            classes=items.classes,
            images=resize_images(items.images, image_size),
            groups=items.groups,
        )
    if path.is_dir() or suffix == ".zip":
        return load_image_folder(path, image_size=image_size, labelled=labelled)
    raise DataError(
        "Expected a folder, .zip, .npz, .csv, .jsonl or .json. "
        f"Received: path='{path}'" + ("" if path.exists() else " (missing)")
    )


def load_image_catalog(path: str | Path, *, image_size: tuple[int, int] | None = None) -> Items:
    """Load images as the unlabelled catalogue a pair file points into (labels -1).

    Ids are those `build-index` and `serve --catalog` give the same images: the paths relative
    to the folder or zip (`forged/021001_000.png`; class folders optional), or the `.npz` ids.

    Args:
        path: an image folder, a `.zip` of one, or an `.npz`.
        image_size: `(h, w)` to resize every image to; None keeps them as loaded.

    Example:
        >>> images = load_image_catalog("signatures/", image_size=(64, 64))
        >>> pairs = load_pairs("labels.csv", images)
    """
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        raise DataError(
            f"Expected an image folder, .zip or .npz as the image catalogue. Received: a table '{path}'"
        )
    items = load_items(path, image_size=image_size, labelled=False)
    return Items(ids=items.ids, labels=np.full(len(items), -1, np.int64), classes=(), images=items.images)


def load_table(
    path: str | Path,
    *,
    fields: Sequence[str] | None = None,
    id_column: str = "id",
    label_column: str = "label",
    row_ids: bool | None = None,
    encoding: str = "utf-8",
    mapping: Mapping[str, str] | None = None,
) -> Items:
    """Load a CSV or JSON-lines table as record items.

    Every column stays `str` as written ('' where empty): a postcode `0832` stays `0832` in the
    index, its search results and pair files. Which fields a record tower reads as numbers is
    decided when it is trained (`simsearch.data.field_types`), and those are parsed then. Without
    a label column every label is -1 and `classes` is empty (an unlabelled catalogue, as matched
    by pair files). Ids are `int64` when every one is a plain integer, else `str`
    (`simsearch.data.records.table_ids`). Columns that are neither the id, the label nor among
    `fields` are kept, as text, in `Items.metadata`.

    Nothing is dropped or guessed silently: a row with more or fewer cells than the header, a
    repeated column name, a cell over `simsearch.validation.MAX_TEXT_CHARS` and text that is not
    in `encoding` are errors.

    Args:
        path: a `.csv`, `.jsonl` or `.json` (one object per line, or a list of objects) file.
        fields: the content columns; all but the id and label columns when None.
        id_column: the column holding unique ids.
        label_column: the column holding class names.
        row_ids: how rows without `id_column` get ids. None: the row numbers (0, 1, ...) when the
            table has no such column (training data and queries, whose ids only name rows);
            False: the column is required (a catalogue to index, whose ids are its items');
            True: the row numbers, and the table must not have the column.
        encoding: the text encoding (a UTF-8 byte order mark is skipped).
        mapping: `{field: column}` for fields read from a column of another name (a catalogue
            whose `title` column is a model's `name` field: `{"name": "title"}`).

    Example:
        >>> products = load_table("Abt-Buy/tableA.csv", fields=["name", "description", "price"])
    """
    path = Path(path)
    header, rows = _read_rows(path, encoding)
    _check_id_column(header, id_column, row_ids, path)
    mapping = dict(mapping or {})
    wanted = None if fields is None else [mapping.get(name, name) for name in fields]
    names = _content_columns(header, wanted, (id_column, label_column), path)
    field_of = {column: field for field, column in mapping.items()}
    has_ids = id_column in header and not row_ids
    ids = table_ids(_cells(rows, id_column) if has_ids else [str(i) for i in range(len(rows))])
    check_unique_ids(ids, path)
    if label_column in header:
        labels, classes = encode_labels(np.array(_cells(rows, label_column), dtype=str))
    else:
        labels, classes = np.full(len(rows), -1, dtype=np.int64), ()
    columns = {field_of.get(name, name): np.array(_cells(rows, name), dtype=str) for name in names}
    kept = [name for name in header if name not in (id_column, label_column, *names)]
    metadata = {name: _text_column(_cells(rows, name)) for name in kept}
    return Items(ids=ids, labels=labels, classes=classes, fields=columns, metadata=metadata)


def _check_id_column(header: list[str], id_column: str, row_ids: bool | None, path: Path) -> None:
    if row_ids is False and id_column not in header:
        raise DataError(
            f"Expected an id column {id_column!r} in '{path}' (name another with --id-column, or "
            f"number the rows with --row-ids). Received: columns={header}"
        )
    if row_ids and id_column in header:
        raise DataError(
            f"Expected no {id_column!r} column in '{path}' with --row-ids (its ids would be "
            f"replaced by row numbers). Received: columns={header}"
        )


def load_pairs(
    path: str | Path,
    left: Items,
    right: Items | None = None,
    *,
    score_column: str | None = None,
    encoding: str = "utf-8",
) -> Pairs:
    """Load labelled pairs from a CSV (or JSON-lines) file with `left_id`, `right_id`, `label`.

    This reads DeepMatcher's joined train/valid/test files as they are; other columns are ignored.
    Ids are matched as strings against `left.ids` and `right.ids` (`left.ids` when `right` is None).

    Args:
        path: the pair file; `label` is 1 for the same item, 0 otherwise.
        left: the items `left_id` refers to.
        right: the items `right_id` refers to, when they form a second catalogue.
        score_column: a column of graded similarity to read into `Pairs.score` (e.g. `score`
            as `simsearch prepare-pairs` writes it for STS-B and SICK), or None.
        encoding: the file's text encoding.

    Returns:
        `Pairs` of positions into `left` and `right`.

    Example:
        >>> a, b = load_table("tableA.csv"), load_table("tableB.csv")
        >>> train = load_pairs("train.csv", a, b)
    """
    path = Path(path)
    header, rows = _read_rows(path, encoding)
    _require_columns(["left_id", "right_id", "label"], header, path)
    right_ids = (left if right is None else right).ids
    return Pairs(
        left=_positions(left.ids, _cells(rows, "left_id"), "left", path),
        right=_positions(right_ids, _cells(rows, "right_id"), "right", path),
        same=_binary_labels(_cells(rows, "label"), path),
        score=None if score_column is None else _scores(header, rows, score_column, path).astype(np.float32),
    )


def load_pair_scores(
    path: str | Path, column: str = "score", *, encoding: str = "utf-8"
) -> npt.NDArray[np.float64]:
    """Read a pair file's graded similarity column (STS-B 0-5, SICK 1-5), in row order.

    Example:
        >>> load_pair_scores("data/stsb/test.csv").shape
        (1379,)
    """
    path = Path(path)
    header, rows = _read_rows(path, encoding)
    return _scores(header, rows, column, path)


def _scores(
    header: list[str], rows: list[dict[str, str]], column: str, path: Path
) -> npt.NDArray[np.float64]:
    _require_columns([column], header, path)
    cells = _cells(rows, column)
    try:
        scores = np.array(cells, dtype=np.float64)
    except ValueError:
        bad = [c for c in cells if not _is_float(c)]
        raise DataError(f"Expected numbers in {column} of '{path}'. Received: {bad[:_FEW]}") from None
    if not np.isfinite(scores).all():
        raise DataError(f"Expected finite numbers in {column} of '{path}'. Received: NaN or inf")
    return scores


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[dict[str, str]]]:
    """Read a table as its header and rows of str cells ('' where empty)."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"Expected a .csv, .jsonl or .json table. Received: path='{path}'")
    if not path.is_file():
        raise DataError(f"Expected a table file. Received: path='{path}' (missing)")
    codec = text_codec(encoding)
    try:
        header, rows = _read_csv(path, codec) if suffix == ".csv" else _read_json_lines(path, codec)
    except UnicodeDecodeError as exc:
        raise decode_error(exc, encoding, path) from None
    if not header or not rows:
        raise DataError(f"Expected a header and at least one row in '{path}'. Received: an empty table")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"Expected distinct column names in '{path}'. Received: {repeated} repeated")
    return header, rows


def text_codec(encoding: str) -> str:
    """The codec to read `encoding` with: UTF-8 skips a byte order mark, as spreadsheets write one."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(
            f"Expected a known text encoding (utf-8, latin-1, cp1252, ...). Received: encoding={encoding!r}"
        ) from None
    return "utf-8-sig" if name == "utf-8" else name


def decode_error(exc: UnicodeDecodeError, encoding: str, path: str | Path) -> DataError:
    """The one-line error for text that is not in `encoding`, naming `--encoding`."""
    return DataError(
        f"Expected {encoding} text in '{path}' (pass the file's encoding with --encoding, e.g. "
        f"--encoding latin-1). Received: byte {exc.object[exc.start : exc.start + 1]!r} ({exc.reason})"
    )


def csv_field_limit() -> int:
    """Let the csv module read fields up to `MAX_TEXT_CHARS` (its own default is 128 KiB)."""
    if csv.field_size_limit() < MAX_TEXT_CHARS:
        csv.field_size_limit(MAX_TEXT_CHARS)
    return MAX_TEXT_CHARS


def _read_csv(path: Path, codec: str) -> tuple[list[str], list[dict[str, str]]]:
    csv_field_limit()
    with path.open(newline="", encoding=codec) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            rows, ragged = [], []
            for cells in reader:
                if not cells:  # a blank line
                    continue
                if len(cells) != len(header):
                    ragged.append((reader.line_num, len(cells)))
                rows.append(dict(zip(header, cells, strict=False)))
        except csv.Error as exc:
            raise DataError(
                f"Expected a CSV file with fields of at most {MAX_TEXT_CHARS} characters "
                f"(MAX_TEXT_CHARS) in '{path}'. Received: {exc} at line {reader.line_num}"
            ) from None
    if ragged:
        line, count = ragged[0]
        raise DataError(
            f"Expected {len(header)} cells per row (the header's) in '{path}'. Received: "
            f"{len(ragged)} rows with more or fewer, first at line {line} with {count}"
        )
    return header, rows


def _read_json_lines(path: Path, codec: str) -> tuple[list[str], list[dict[str, str]]]:
    text = path.read_text(encoding=codec)
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:  # lines end at "\n" only: a JSON string may hold U+0085 or U+2028 as they are
            records = [json.loads(line) for line in text.split("\n") if line.strip()]
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer too long to read
        got = "a value nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise DataError(f"Expected JSON lines in '{path}'. Received: {got}") from None
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise DataError(f"Expected one JSON object per row in '{path}'. Received: a non-object row")
    header = list(dict.fromkeys(key for record in records for key in record))
    rows = [
        {
            key: check_text(_json_cell(record.get(key)), f"column {key!r} of row {i} of '{path}'")
            for key in header
        }
        for i, record in enumerate(records)
    ]
    return header, rows


def _json_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _content_columns(
    header: list[str], fields: Sequence[str] | None, reserved: tuple[str, str], path: Path
) -> list[str]:
    if fields is not None:
        _require_columns(list(fields), header, path)
        return list(fields)
    names = [name for name in header if name not in reserved]
    if not names:
        raise DataError(
            f"Expected a content column besides {list(reserved)} in '{path}'. Received: columns={header}"
        )
    return names


def _require_columns(names: list[str], header: list[str], path: Path) -> None:
    missing = [name for name in names if name not in header]
    if not names or missing:
        raise DataError(
            f"Expected columns {names} in '{path}'. Received: columns={header} (missing {missing})"
        )


def _cells(rows: list[dict[str, str]], column: str) -> list[str]:
    return [row[column].strip() for row in rows]


def _text_column(values: list[str]) -> npt.NDArray[np.object_]:
    """A kept column's cells as text (None where empty), held as objects: a fixed-width `str`
    array would be as wide as its longest cell in every row."""
    out = np.empty(len(values), object)
    out[:] = [value or None for value in values]
    return out


def _positions(
    ids: npt.NDArray[np.generic], wanted: list[str], side: str, path: Path
) -> npt.NDArray[np.int64]:
    lookup = {str(item_id): position for position, item_id in enumerate(ids.tolist())}
    unknown = sorted({value for value in wanted if value not in lookup})
    if unknown:
        held = list(lookup)[:3]
        raise DataError(
            f"Expected every {side}_id in '{path}' among the {side} items' ids. "
            f"Received: {len(unknown)} unknown, e.g. {unknown[:_FEW]}; the {side} items hold "
            f"{len(lookup)} ids, e.g. {held}"
        )
    return np.array([lookup[value] for value in wanted], dtype=np.int64)


def _binary_labels(values: list[str], path: Path) -> npt.NDArray[np.int8]:
    bad = sorted({value for value in values if value not in ("0", "1")})
    if bad:
        raise DataError(f"Expected labels 0 or 1 in '{path}'. Received: {bad[:_FEW]}")
    return np.array(values, dtype=np.int8)
