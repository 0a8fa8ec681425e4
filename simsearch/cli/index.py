"""`simsearch build-index`, `add` and `delete`: write and update index directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import load_data, split_list

_PATH = click.Path(exists=True, path_type=Path)


@click.command("build-index")
@click.option(
    "--model", "model_dir", type=_PATH, required=True, help="Model directory from `simsearch train`."
)
@click.option(
    "--catalog",
    type=_PATH,
    required=True,
    help="Items to index: image folder (ids = paths relative to it), or CSV/JSONL with an id column.",
)
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), required=True, help="Index directory to write."
)
@click.option(
    "--factory", help="FAISS factory string (Flat, IVF1024,Flat, IVF256,PQ16, HNSW32...). Default: by size."
)
@click.option("--fields", help="Comma-separated content fields (default: the model's).")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def build_index_command(model_dir: Path, catalog: Path, index_dir: Path, **options: Any) -> None:
    """Encode a catalogue with MODEL and write a self-contained index directory."""
    from simsearch.engine import build_index
    from simsearch.index import read_manifest

    items = _load_catalog(catalog, model_dir, options["fields"])
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
def add_command(index_dir: Path, catalog: Path, upsert: bool, fields: str | None) -> None:
    """Add (or upsert) catalogue items to an index, without rebuilding it."""
    from simsearch.engine import SearchEngine, item_metadata

    engine = SearchEngine.load(index_dir)
    items = _load_catalog(catalog, engine.model_dir, fields)
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
    from simsearch.errors import ConfigError

    wanted = list(ids) + (
        [line.strip() for line in ids_file.read_text().splitlines() if line.strip()] if ids_file else []
    )
    if not wanted:
        raise ConfigError("Expected --id or --ids-file. Received: neither")
    engine = SearchEngine.load(index_dir)
    engine.delete(wanted)
    engine.save()
    click.echo(f"Deleted {len(wanted)} items; {len(engine.index)} in {index_dir}")


def _load_catalog(path: Path, model_dir: Path | None, fields: str | None) -> Any:
    import json

    config = json.loads((Path(model_dir) / "config.json").read_text()) if model_dir else {}
    spec = config.get("inputs", {})
    names = split_list(fields) or [*spec.get("text_fields", []), *spec.get("numeric_fields", [])] or None
    if config.get("kind") == "image":
        size = spec.get("image_size")
        square = bool(size) and size[0] == size[1]
        return load_data(path, fields=None, image_size=int(size[0]) if square else None, labelled=False)
    return load_data(path, fields=names, image_size=None, labelled=False)
