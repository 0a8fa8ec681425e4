"""`simsearch build-index`, `add` and `delete`: write and update index directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import load_catalog_table, load_data, map_option, parse_map, split_list
from simsearch.cli._engine import check_engine, dask_client, engine_options
from simsearch.errors import ConfigError

_PATH = click.Path(exists=True, path_type=Path)


@click.command("build-index")
@click.option(
    "--model", "model_dir", type=_PATH, required=True, help="Model directory from `simsearch train`."
)
@click.option(
    "--catalog",
    type=_PATH,
    required=True,
    help="Items to index: image folder (ids = paths relative to it), or CSV/JSONL/Parquet with an id column.",
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
@engine_options
def build_index_command(model_dir: Path, catalog: Path, index_dir: Path, **options: Any) -> None:
    """Encode a catalogue with MODEL and write a self-contained index directory.

    \b
    simsearch build-index --model models/p --catalog items.csv --index indexes/p
    simsearch build-index --model models/p --catalog items.parquet --index indexes/p --engine dask
    """
    from simsearch.index import read_manifest

    if check_engine(options):
        from simsearch.distributed import build_index_dask

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
            )
    else:
        from simsearch.engine import build_index

        items = _load_catalog(catalog, model_dir, options["fields"], options["mapping"])
        build_index(
            model_dir,
            items,
            index_dir,
            factory=options["factory"],
            batch_size=options["batch_size"],
            seed=options["seed"],
        )
    manifest = read_manifest(index_dir)
    click.echo(
        f"Indexed {manifest['count']} items into {index_dir} ({manifest['factory']}, {manifest['metric']}, "
        f"dim {manifest['dim']})"
    )


@click.command("add")
@click.option("--index", "index_dir", type=_PATH, required=True)
@click.option("--catalog", type=_PATH, required=True, help="Items to add (same formats as build-index).")
@click.option("--upsert", is_flag=True, help="Replace items whose id is already in the index.")
@click.option("--fields", help="Comma-separated content fields (default: the model's).")
@map_option
def add_command(
    index_dir: Path, catalog: Path, upsert: bool, fields: str | None, mapping: tuple[str, ...]
) -> None:
    """Add (or upsert) catalogue items to an index, without rebuilding it."""
    from simsearch.engine import SearchEngine, item_metadata

    engine = SearchEngine.load(index_dir)
    items = _load_catalog(catalog, engine.model_dir, fields, mapping)
    engine.add(items.content(), list(items.ids), item_metadata(items), upsert=upsert)
    engine.save()
    click.echo(f"{'Upserted' if upsert else 'Added'} {len(items)} items; {len(engine.index)} in {index_dir}")


@click.command("delete")
@click.option("--index", "index_dir", type=_PATH, required=True)
@click.option("--id", "ids", multiple=True, help="Catalogue id to delete (repeatable).")
@click.option("--ids-file", type=_PATH, help="A file with one id per line.")
def delete_command(index_dir: Path, ids: tuple[str, ...], ids_file: Path | None) -> None:
    """Delete items by id; an unknown id is an error and nothing is deleted."""
    from simsearch.engine import SearchEngine

    wanted = list(ids) + (
        [line.strip() for line in ids_file.read_text().splitlines() if line.strip()] if ids_file else []
    )
    if not wanted:
        raise ConfigError("Expected --id or --ids-file. Received: neither")
    engine = SearchEngine.load(index_dir)
    engine.delete(wanted)
    engine.save()
    click.echo(f"Deleted {len(wanted)} items; {len(engine.index)} in {index_dir}")


def _load_catalog(
    path: Path, model_dir: Path | None, fields: str | None, mapping: tuple[str, ...] = ()
) -> Any:
    """The catalogue at `path` as the model in `model_dir` reads it; `mapping`: the --map values."""
    import json

    if model_dir and _is_parquet(path):  # read as the Dask engine reads a partition, all at once
        _no_map(mapping, "a Parquet catalogue")
        from simsearch.distributed.catalog import plan_partitions, read_partition
        from simsearch.distributed.encode import catalog_spec

        return read_partition(plan_partitions(path, 1)[0], catalog_spec(model_dir, split_list(fields)))
    config = json.loads((Path(model_dir) / "config.json").read_text()) if model_dir else {}
    spec = config.get("inputs", {})
    names = split_list(fields) or [*spec.get("text_fields", []), *spec.get("numeric_fields", [])] or None
    if config.get("kind") not in ("face", "image") and path.suffix.lower() in (".csv", ".jsonl", ".json"):
        return load_catalog_table(path, names, parse_map(mapping))
    _no_map(mapping, f"a {config.get('kind')} model's catalogue")
    if config.get("kind") == "face":
        from simsearch.cli._faces import load_faces

        return load_faces(path, spec.get("face", {}), labelled=False)
    if config.get("kind") == "image":
        size = spec.get("image_size")
        square = bool(size) and size[0] == size[1]
        return load_data(path, fields=None, image_size=int(size[0]) if square else None, labelled=False)
    return load_data(path, fields=names, image_size=None, labelled=False)


def _no_map(mapping: tuple[str, ...], what: str) -> None:
    if mapping:
        raise ConfigError(f"Expected --map with a CSV or JSONL catalogue. Received: --map with {what}")


def _is_parquet(path: Path) -> bool:
    """A Parquet file, or a folder of them."""
    if path.is_dir():
        return any(p.suffix == ".parquet" and not p.name.startswith((".", "_")) for p in path.iterdir())
    return path.suffix.lower() == ".parquet"
