"""The catalogue a command indexes or matches, read as its model reads items: `build-index`,
`add` and `match` (catalogue B) share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simsearch.cli._common import load_catalog_table, load_data, parse_map, split_list
from simsearch.errors import ConfigError
from simsearch.tower_kinds import tower_kind

__all__ = ["check_dask_ids", "load_catalog", "no_map"]


def load_catalog(
    path: Path,
    model_dir: Path | None,
    fields: str | None,
    id_column: str = "id",
    row_ids: bool = False,
    mapping: tuple[str, ...] = (),
) -> Any:
    """A catalogue to index or match, as the model in `model_dir` reads it: a table's ids from
    `id_column` (required), or its row numbers with `row_ids`; its other columns kept as metadata;
    `mapping`: the --map values."""
    from simsearch.model_config import read_config

    if model_dir and _is_parquet(path):  # read as the Dask engine reads a partition, all at once
        no_map(mapping, "a Parquet catalogue")
        from simsearch.distributed.catalog import plan_partitions, read_partition
        from simsearch.distributed.encode import catalog_spec

        check_dask_ids(row_ids, "Parquet catalogues")
        spec = catalog_spec(model_dir, split_list(fields), id_column=id_column)
        return read_partition(plan_partitions(path, 1)[0], spec)
    config = read_config(model_dir) if model_dir else {}
    spec = config.get("inputs", {})
    names = split_list(fields) or [*spec.get("text_fields", []), *spec.get("numeric_fields", [])] or None
    catalogue = tower_kind(config["kind"]).catalogue if config else "table"
    if catalogue == "table" and path.suffix.lower() in (".csv", ".jsonl", ".json"):
        return load_catalog_table(path, names, parse_map(mapping), id_column, row_ids)
    no_map(mapping, f"a {config.get('kind')} model's catalogue")
    if catalogue == "faces":
        from simsearch.cli._faces import load_faces

        return load_faces(path, spec.get("face", {}), labelled=False)
    if catalogue == "images":
        size = spec.get("image_size")
        square = bool(size) and size[0] == size[1]
        return load_data(path, fields=None, image_size=int(size[0]) if square else None, labelled=False)
    return load_data(
        path, fields=names, image_size=None, labelled=False, id_column=id_column, row_ids=row_ids
    )


def check_dask_ids(row_ids: bool, where: str = "--engine dask") -> None:
    """The Dask engine reads a catalogue in parts: its ids come from a column, never row numbers."""
    if row_ids:
        raise ConfigError(
            f"Expected an id column with {where} (rows are read in parts, not numbered). Received: --row-ids"
        )


def no_map(mapping: tuple[str, ...], what: str) -> None:
    """`--map` applies to CSV and JSONL catalogues only; `what` names the catalogue given."""
    if mapping:
        raise ConfigError(f"Expected --map with a CSV or JSONL catalogue. Received: --map with {what}")


def _is_parquet(path: Path) -> bool:
    """A Parquet file, or a folder of them."""
    if path.is_dir():
        return any(p.suffix == ".parquet" and not p.name.startswith((".", "_")) for p in path.iterdir())
    return path.suffix.lower() == ".parquet"
