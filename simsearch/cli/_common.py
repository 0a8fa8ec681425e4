"""Shared pieces of the commands: loading data from the options, printing reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from simsearch.data.items import Items
from simsearch.data.records import input_fields
from simsearch.errors import ConfigError, DataError, FilterError
from simsearch.tower_kinds import TOWERS as TOWERS  # the names `train --tower/--loss` offer
from simsearch.train_config import LOSSES as LOSSES

PROBE_ITEMS = 8  # training items a saved model is loaded back and checked on


def split_list(value: str | None) -> list[str] | None:
    """`"a,b, c"` -> `["a", "b", "c"]`; None stays None."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def json_record(text: str, what: str) -> dict[str, Any]:
    """Parse one record given as a JSON object on the command line (`what` names the option)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"Expected a JSON object for {what}. Received: {_head(text)}") from exc
    except RecursionError:
        raise DataError(f"Expected a flat JSON object for {what}. Received: one nested too deep") from None
    if not isinstance(value, dict):
        raise DataError(f"Expected a JSON object for {what}. Received: {_head(text)}")
    return value


WHERE_HELP = (
    'Only items whose metadata pass this JSON filter, e.g. \'{"shop": "b", "price": {"$lt": 20}}\' '
    "(operators $eq $ne $in $nin $lt $lte $gt $gte $and $or; see the README, Filters)."
)


def parse_where(text: str | None) -> Any:
    """The `--where` option as a compiled `Where` (None when not given or `{}`); a malformed one
    is a `FilterError` naming what is wrong, before anything is loaded."""
    if text is None:
        return None
    from simsearch.search.where import Where

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterError(f"Expected --where as a JSON object. Received: {_head(text)}") from exc
    except RecursionError:
        raise FilterError("Expected --where as a JSON object. Received: one nested too deep") from None
    if not isinstance(value, dict):
        raise FilterError(f"Expected --where as a JSON object. Received: {_head(text)}")
    return Where.parse(value) if value else None


def _head(text: str) -> str:
    return repr(text) if len(text) <= 80 else f"{text[:77]!r}... ({len(text)} characters)"


def _set_encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(
            f"Expected a known text encoding (utf-8, latin-1, cp1252, ...). Received: {value!r}"
        ) from None
    ctx.ensure_object(dict)["encoding"] = value
    return value


encoding_option = click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    expose_value=False,
    callback=_set_encoding,
    help="Text encoding of the CSV/JSONL files read (latin-1, cp1252, ...).",
)
"""The `--encoding` option of every command that reads a table; `table_encoding` gives its value."""


def table_encoding() -> str:
    """The command's `--encoding` (kept in the click context object), else UTF-8."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(dict) if ctx is not None else None
    return str((obj or {}).get("encoding", "utf-8"))


def catalog_options(command: Any) -> Any:
    """`--id-column` and `--row-ids`: where a catalogue table's ids come from."""
    command = click.option(
        "--row-ids",
        is_flag=True,
        help="Number a table's rows 0, 1, ... as their ids (it must have no id column; CSV/JSONL only).",
    )(command)
    return click.option(
        "--id-column",
        default="id",
        show_default=True,
        help="The table column holding the items' ids; a table without it is refused unless --row-ids.",
    )(command)


def map_option(command: Any) -> Any:
    """The `--map FIELD=COLUMN` option of the commands that read a catalogue for a model."""
    return click.option(
        "--map",
        "mapping",
        multiple=True,
        metavar="FIELD=COLUMN",
        help="Read the model's field FIELD from the catalogue's column COLUMN, for a catalogue "
        "whose column names differ from the model's (repeatable): --map name=title.",
    )(command)


def parse_map(values: tuple[str, ...] | list[str] | None) -> dict[str, str]:
    """`("name=title", ...)` -> `{"name": "title"}`: the model's field, then the catalogue column."""
    mapping: dict[str, str] = {}
    for value in values or ():
        field, sep, column = (part.strip() for part in value.partition("="))
        if not sep or not field or not column:
            raise ConfigError(f"Expected --map FIELD=COLUMN (e.g. name=title). Received: {value!r}")
        if field in mapping:
            raise ConfigError(f"Expected one --map per field. Received: {field!r} twice")
        mapping[field] = column
    return mapping


def load_catalog_table(
    path: Path,
    fields: list[str] | None,
    mapping: dict[str, str],
    id_column: str = "id",
    row_ids: bool | None = None,
) -> Items:
    """A CSV/JSONL catalogue with the model's `fields` (columns renamed by `mapping`), read in the
    command's `--encoding`; ids as `load_table` takes them (`row_ids`); a missing field's error
    says how to map a column of another name to it."""
    from simsearch.data.loaders import load_table

    try:
        return load_table(
            path,
            fields=fields,
            mapping=mapping,
            id_column=id_column,
            row_ids=row_ids,
            encoding=table_encoding(),
        )
    except DataError as exc:
        if fields is None or "(missing " not in str(exc):
            raise
        raise DataError(
            f"{exc}. The model reads fields {fields}; for a column of another name pass "
            "--map FIELD=COLUMN (e.g. --map name=title)"
        ) from exc


def load_data(
    path: Path,
    *,
    fields: list[str] | None,
    image_size: int | None,
    labelled: bool = True,
    id_column: str = "id",
    row_ids: bool | None = None,
) -> Items:
    """Load items as `load_items` does, tables in the command's `--encoding`; `row_ids` as
    `load_table` takes it (None: row numbers where a table has no id column)."""
    from simsearch.data.loaders import load_items

    size = None if image_size is None else (image_size, image_size)
    return load_items(
        path,
        fields=fields,
        image_size=size,
        labelled=labelled,
        id_column=id_column,
        row_ids=row_ids,
        encoding=table_encoding(),
    )


def model_fields(model: Any) -> list[str] | None:
    """The catalogue fields a loaded siamese model reads (text then numeric; None for images)."""
    return input_fields(model.config["inputs"]) or None


def index_model_dir(index_dir: Path, model_dir: Path | None) -> Path:
    """The model directory of an index: `model_dir` when given, else the one its manifest records."""
    if model_dir is not None:
        return model_dir
    from simsearch.model_config import recorded_model_dir

    return recorded_model_dir(index_dir)


def load_catalogs(paths: tuple[Path, ...], fields: list[str] | None) -> tuple[Items, Items | None]:
    from simsearch.data.loaders import load_table

    if not 1 <= len(paths) <= 2:
        raise DataError(f"Expected one or two --catalog files. Received: {len(paths)}")
    left = load_table(paths[0], fields=fields, encoding=table_encoding())
    right = load_table(paths[1], fields=fields, encoding=table_encoding()) if len(paths) == 2 else None
    return left, right


def combine(left: Items, right: Items | None) -> tuple[Items, int]:
    """Stack two catalogues into one (right after left); returns it and the right offset."""
    if right is None:
        return left, 0
    if sorted(left.fields) != sorted(right.fields):
        raise DataError(
            f"Expected both catalogues to have the same fields. Received: {sorted(left.fields)} "
            f"and {sorted(right.fields)}"
        )
    import numpy as np

    fields = {}
    for name in left.fields:
        a, b = left.fields[name], right.fields[name]
        if a.dtype.kind != b.dtype.kind:  # a numeric column on one side, text on the other
            a, b = a.astype(str), b.astype(str)
        fields[name] = np.concatenate([a, b])
    ids = np.concatenate([left.ids.astype(str), right.ids.astype(str)])
    labels = np.full(len(ids), -1, np.int64)
    return Items(ids=ids, labels=labels, classes=(), fields=fields), len(left)


def load_pair_file(
    path: Path, left: Items, right: Items | None, offset: int, score_column: str | None = None
) -> Any:
    from simsearch.data.loaders import load_pairs

    return load_pairs(path, left, right, score_column=score_column, encoding=table_encoding()).shifted(offset)


def echo_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2, default=_json_default))
        return
    from simsearch.evaluation.report import format_table

    for section, values in report.items():
        if isinstance(values, dict):
            click.echo(f"\n{section}")
            click.echo(format_table(values))
        else:
            click.echo(f"{section}: {values}")


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, np.ndarray)):
        return list(value)
    return str(value)
