"""`simsearch build-index`, `add` and `delete`: write and update index directories, each holding
the directory's writer lock from load to save (`--no-wait` fails instead of waiting for it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import (
    catalog_options,
    encoding_option,
    load_catalog_table,
    load_data,
    map_option,
    parse_map,
    split_list,
    table_encoding,
)
from simsearch.cli._engine import check_engine, dask_client, engine_options
from simsearch.cli._index_dir import INDEX, wait_option, writing
from simsearch.errors import ConfigError
from simsearch.tower_kinds import tower_kind

_PATH = click.Path(exists=True, path_type=Path)


@click.command("build-index")
@click.option(
    "--model", "model_dir", type=_PATH, required=True, help="Model directory from `simsearch train`."
)
@click.option(
    "--catalog",
    type=_PATH,
    required=True,
    help="Items to index: image folder (ids = paths relative to it), or CSV/JSONL/Parquet with an id "
    "column; its columns besides the id, the label and the model's fields are kept as metadata.",
)
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), required=True, help="Index directory to write."
)
@click.option(
    "--factory", help="FAISS factory string (Flat, IVF1024,Flat, IVF256,PQ16, HNSW32...). Default: by size."
)
@click.option("--fields", help="Comma-separated content fields (default: the model's).")
@map_option
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@catalog_options
@encoding_option
@engine_options
@wait_option
def build_index_command(model_dir: Path, catalog: Path, index_dir: Path, wait: bool, **options: Any) -> None:
    """Encode a catalogue with MODEL and write a self-contained index directory.

    \b
    simsearch build-index --model models/p --catalog items.csv --index indexes/p
    simsearch build-index --model models/p --catalog items.parquet --index indexes/p --engine dask
    """
    from simsearch.index import read_manifest

    with writing(index_dir, wait=wait):
        _build(model_dir, catalog, index_dir, options)
        manifest = read_manifest(index_dir)
    click.echo(
        f"Indexed {manifest['count']} items into {index_dir} ({manifest['factory']}, {manifest['metric']}, "
        f"dim {manifest['dim']})"
    )


def _build(model_dir: Path, catalog: Path, index_dir: Path, options: dict[str, Any]) -> None:
    if check_engine(options):
        from simsearch.distributed import build_index_dask

        _check_dask_ids(options["row_ids"])
        _no_map(options["mapping"], "--engine dask")

        with dask_client(options) as client:
            build_index_dask(
                client,
                model_dir,
                catalog,
                index_dir,
                factory=options["factory"],
                fields=split_list(options["fields"]),
                partitions=options["partitions"],
                batch_size=options["batch_size"],
                seed=options["seed"],
                id_column=options["id_column"],
                encoding=table_encoding(),
            )
    else:
        from simsearch.engine import build_index

        items = _load_catalog(
            catalog,
            model_dir,
            options["fields"],
            options["id_column"],
            options["row_ids"],
            options["mapping"],
        )
        build_index(
            model_dir,
            items,
            index_dir,
            factory=options["factory"],
            batch_size=options["batch_size"],
            seed=options["seed"],
        )


@click.command("add")
@click.option("--index", "index_dir", type=INDEX, required=True)
@click.option("--catalog", type=_PATH, required=True, help="Items to add (same formats as build-index).")
@click.option("--upsert", is_flag=True, help="Replace items whose id is already in the index.")
@click.option("--fields", help="Comma-separated content fields (default: the model's).")
@catalog_options
@encoding_option
@map_option
@wait_option
def add_command(
    index_dir: Path,
    catalog: Path,
    upsert: bool,
    fields: str | None,
    id_column: str,
    row_ids: bool,
    mapping: tuple[str, ...],
    wait: bool,
) -> None:
    """Add (or upsert) catalogue items to an index, without rebuilding it.

    A table needs its id column (--id-column, default `id`), or --row-ids to number its rows:
    an id names the item an upsert replaces. Everything is read and checked before the index
    changes: a refused catalogue leaves the index directory as it was.

    One process writes an index at a time: this waits while another one does (a CLI write, or
    `serve` with writes, until it stops), or fails at once with --no-wait.
    """
    from simsearch.cli._common import index_model_dir
    from simsearch.engine import SearchEngine, item_metadata

    items = _load_catalog(catalog, index_model_dir(index_dir, None), fields, id_column, row_ids, mapping)
    with writing(index_dir, wait=wait):
        engine = SearchEngine.load(index_dir)
        engine.add(items.content(), list(items.ids), item_metadata(items), upsert=upsert)
        engine.save()
    click.echo(f"{'Upserted' if upsert else 'Added'} {len(items)} items; {len(engine.index)} in {index_dir}")


@click.command("delete")
@click.option("--index", "index_dir", type=INDEX, required=True)
@click.option("--id", "ids", multiple=True, help="Catalogue id to delete (repeatable).")
@click.option("--ids-file", type=_PATH, help="A file with one id per line.")
@wait_option
def delete_command(index_dir: Path, ids: tuple[str, ...], ids_file: Path | None, wait: bool) -> None:
    """Delete items by id; an unknown id is an error and nothing is deleted.

    Waits while another process writes the index, or fails at once with --no-wait (as `add`).
    """
    from simsearch.engine import SearchEngine

    wanted = list(ids) + (
        [line.strip() for line in ids_file.read_text().splitlines() if line.strip()] if ids_file else []
    )
    if not wanted:
        raise ConfigError("Expected --id or --ids-file. Received: neither")
    with writing(index_dir, wait=wait):
        engine = SearchEngine.load(index_dir)
        engine.delete(wanted)
        engine.save()
    click.echo(f"Deleted {len(wanted)} items; {len(engine.index)} in {index_dir}")


def _load_catalog(
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
        _no_map(mapping, "a Parquet catalogue")
        from simsearch.distributed.catalog import plan_partitions, read_partition
        from simsearch.distributed.encode import catalog_spec

        _check_dask_ids(row_ids, "Parquet catalogues")
        spec = catalog_spec(model_dir, split_list(fields), id_column=id_column)
        return read_partition(plan_partitions(path, 1)[0], spec)
    config = read_config(model_dir) if model_dir else {}
    spec = config.get("inputs", {})
    names = split_list(fields) or [*spec.get("text_fields", []), *spec.get("numeric_fields", [])] or None
    catalogue = tower_kind(config["kind"]).catalogue if config else "table"
    if catalogue == "table" and path.suffix.lower() in (".csv", ".jsonl", ".json"):
        return load_catalog_table(path, names, parse_map(mapping), id_column, row_ids)
    _no_map(mapping, f"a {config.get('kind')} model's catalogue")
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


def _check_dask_ids(row_ids: bool, where: str = "--engine dask") -> None:
    if row_ids:
        raise ConfigError(
            f"Expected an id column with {where} (rows are read in parts, not numbered). "
            "Received: --row-ids"
        )


def _no_map(mapping: tuple[str, ...], what: str) -> None:
    if mapping:
        raise ConfigError(f"Expected --map with a CSV or JSONL catalogue. Received: --map with {what}")


def _is_parquet(path: Path) -> bool:
    """A Parquet file, or a folder of them."""
    if path.is_dir():
        return any(p.suffix == ".parquet" and not p.name.startswith((".", "_")) for p in path.iterdir())
    return path.suffix.lower() == ".parquet"
