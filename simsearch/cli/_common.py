"""Shared pieces of the commands: loading data from the options, printing reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from simsearch.data.items import Items
from simsearch.data.records import input_fields
from simsearch.errors import DataError
from simsearch.train_config import LOSSES as LOSSES  # the names `train --loss/--tower` offer
from simsearch.train_config import TOWERS as TOWERS


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
        raise DataError(f"Expected a JSON object for {what}. Received: {text!r}") from exc
    if not isinstance(value, dict):
        raise DataError(f"Expected a JSON object for {what}. Received: {text!r}")
    return value


def load_data(
    path: Path, *, fields: list[str] | None, image_size: int | None, labelled: bool = True
) -> Items:
    from simsearch.data.loaders import load_items

    size = None if image_size is None else (image_size, image_size)
    return load_items(path, fields=fields, image_size=size, labelled=labelled)


def model_fields(model: Any) -> list[str] | None:
    """The catalogue fields a loaded siamese model reads (text then numeric; None for images)."""
    return input_fields(model.config["inputs"]) or None


def index_model_dir(index_dir: Path, model_dir: Path | None) -> Path:
    """The model directory of an index: `model_dir` when given, else the one its manifest records."""
    if model_dir is not None:
        return model_dir
    from simsearch.engine import recorded_model_dir

    return recorded_model_dir(index_dir)


def load_catalogs(paths: tuple[Path, ...], fields: list[str] | None) -> tuple[Items, Items | None]:
    from simsearch.data.loaders import load_table

    if not 1 <= len(paths) <= 2:
        raise DataError(f"Expected one or two --catalog files. Received: {len(paths)}")
    left = load_table(paths[0], fields=fields)
    right = load_table(paths[1], fields=fields) if len(paths) == 2 else None
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

    return load_pairs(path, left, right, score_column=score_column).shifted(offset)


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
