"""`simsearch build-index`, `add` and `delete`: write and update index directories, each holding
the directory's writer lock from load to save (`--no-wait` fails instead of waiting for it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simsearch.cli._catalog import check_dask_ids, load_catalog, no_map
from simsearch.cli._common import (
    catalog_options,
    encoding_option,
    map_option,
    split_list,
    table_encoding,
)
from simsearch.cli._engine import check_engine, dask_client, engine_options
from simsearch.cli._index_dir import INDEX, wait_option, writing
from simsearch.cli._vectors import budget_options, load_vector_options, make_budget, vector_options
from simsearch.errors import ConfigError
from simsearch.index.config import METRICS

_PATH = click.Path(exists=True, path_type=Path)


@click.command("build-index")
@click.option(
    "--model", "model_dir", type=_PATH, help="Model directory from `simsearch train` (with --catalog)."
)
@click.option(
    "--catalog",
    type=_PATH,
    help="Items to index: image folder (ids = paths relative to it), or CSV/JSONL/Parquet with an id "
    "column; its columns besides the id, the label and the model's fields are kept as metadata.",
)
@vector_options("Items to index")
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    help="With --vectors: cosine (default) or l2. A model's index takes the model's metric.",
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
@budget_options
@catalog_options
@encoding_option
@engine_options
@wait_option
def build_index_command(
    model_dir: Path | None, catalog: Path | None, index_dir: Path, wait: bool, **options: Any
) -> None:
    """Encode a catalogue with MODEL, or take your own --vectors, and write a self-contained index
    directory.

    An index of your own vectors has no model: it is searched (`query --id/--vector`, `serve`),
    updated (`add --vectors`, `delete`) and deduplicated by vectors and ids.

    \b
    simsearch build-index --model models/p --catalog items.csv --index indexes/p
    simsearch build-index --model models/p --catalog items.parquet --index indexes/p --engine dask
    simsearch build-index --vectors X.npy --ids ids.txt --metadata meta.jsonl --metric l2 --index indexes/v
    simsearch build-index --vectors X.npy --ids ids.txt --index indexes/v --target-recall 0.95 --max-memory 2G
    """
    from simsearch.index import read_manifest

    source = _source(model_dir, catalog, options)
    budget = make_budget(options)
    if budget is not None and options["engine"] == "dask":
        raise ConfigError("Expected --target-recall on the local engine. Received: --engine dask")
    with writing(index_dir, wait=wait):
        if source == "vectors":
            _build_vectors(index_dir, options, budget)
        else:
            _build(model_dir, catalog, index_dir, {**options, "budget": budget})  # type: ignore[arg-type]
        manifest = read_manifest(index_dir)
    click.echo(
        f"Indexed {manifest['count']} items into {index_dir} ({manifest['factory']}, {manifest['metric']}, "
        f"dim {manifest['dim']})"
    )
    if manifest.get("tuning"):
        click.echo(f"Chose {_tuning_line(manifest)}")


def _source(model_dir: Path | None, catalog: Path | None, options: dict[str, Any]) -> str:
    """ "model" (--model with --catalog) or "vectors" (--vectors with --ids), checked."""
    if options["vectors"] is not None:
        given = [name for name, value in (("--model", model_dir), ("--catalog", catalog)) if value]
        if given:
            raise ConfigError(
                f"Expected --vectors or --model/--catalog, not both. Received: {', '.join(given)}"
            )
        if options["engine"] == "dask":
            raise ConfigError("Expected --vectors on the local engine. Received: --engine dask")
        return "vectors"
    if model_dir is None or catalog is None:
        raise ConfigError(
            "Expected --model with --catalog, or --vectors with --ids. Received: "
            + (f"--{'model' if model_dir else 'catalog'} alone" if model_dir or catalog else "neither")
        )
    given = [
        f"--{n}"
        for n, key in (("ids", "ids_file"), ("metadata", "metadata"), ("metric", "metric"))
        if options[key]
    ]
    if given:
        raise ConfigError(f"Expected {', '.join(given)} only with --vectors. Received: --model")
    return "model"


def _build_vectors(index_dir: Path, options: dict[str, Any], budget: Any) -> None:
    from simsearch.engine import build_vector_index

    catalog = load_vector_options(options)
    build_vector_index(
        catalog.embeddings,
        catalog.ids,
        index_dir,
        metadata=catalog.metadata,
        metric=options["metric"] or "cosine",
        factory=options["factory"],
        seed=options["seed"],
        budget=budget,
    )


def _tuning_line(manifest: dict[str, Any]) -> str:
    """What --target-recall chose, as the manifest records it."""
    from simsearch.index.budget import size_text

    tuning = manifest["tuning"]
    k = tuning["k"]
    params = {"nprobe": "nprobe", "ef_search": "efSearch"}
    kind = (
        "ef_search"
        if tuning["factory"].startswith("HNSW")
        else "nprobe"
        if "IVF" in tuning["factory"]
        else None
    )
    setting = f" at {params[kind]} {tuning['params'][kind]}" if kind else ""
    return (
        f"{tuning['factory']}{setting}: recall@{k} {tuning[f'recall_at_{k}']:.4f} (95% lower bound "
        f"{tuning['recall_lower_95']:.4f}) on {tuning['queries']} "
        f"held-out queries (target {tuning['target_recall']:g}), {size_text(tuning['memory_bytes'])}, "
        f"{tuning['ms_per_query']:.3f} ms/query; tried {len(tuning['trials'])} kinds"
    )


def _build(model_dir: Path, catalog: Path, index_dir: Path, options: dict[str, Any]) -> None:
    if check_engine(options):
        from simsearch.distributed import build_index_dask

        check_dask_ids(options["row_ids"])
        no_map(options["mapping"], "--engine dask")

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

        items = load_catalog(
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
            budget=options["budget"],
        )


@click.command("add")
@click.option("--index", "index_dir", type=INDEX, required=True)
@click.option("--catalog", type=_PATH, help="Items to add (same formats as build-index).")
@vector_options("Items to add")
@click.option("--upsert", is_flag=True, help="Replace items whose id is already in the index.")
@click.option("--fields", help="Comma-separated content fields (default: the model's).")
@catalog_options
@encoding_option
@map_option
@wait_option
def add_command(
    index_dir: Path,
    catalog: Path | None,
    upsert: bool,
    fields: str | None,
    id_column: str,
    row_ids: bool,
    mapping: tuple[str, ...],
    wait: bool,
    **options: Any,
) -> None:
    """Add (or upsert) catalogue items, or your own --vectors, to an index without rebuilding it.

    A table needs its id column (--id-column, default `id`), or --row-ids to number its rows:
    an id names the item an upsert replaces. Everything is read and checked before the index
    changes: a refused catalogue leaves the index directory as it was. An index built from
    --vectors has no model: add to it with --vectors (of its dim) and --ids.

    One process writes an index at a time: this waits while another one does (a CLI write, or
    `serve` with writes, until it stops), or fails at once with --no-wait.
    """
    from simsearch.engine import SearchEngine

    if (catalog is None) == (options["vectors"] is None):
        raise ConfigError(
            "Expected --catalog or --vectors (with --ids). Received: "
            + ("both" if catalog is not None else "neither")
        )
    vectors = load_vector_options(options)
    items = (
        None if catalog is None else _catalog_to_add(index_dir, catalog, fields, id_column, row_ids, mapping)
    )
    with writing(index_dir, wait=wait):
        engine = SearchEngine.load(index_dir) if items is not None else _engine_for_vectors(index_dir)
        if items is not None:
            from simsearch.engine import item_metadata

            engine.add(items.content(), list(items.ids), item_metadata(items), upsert=upsert)
        else:
            engine.add_vectors(vectors.embeddings, list(vectors.ids), vectors.metadata, upsert=upsert)
        engine.save()
    n = len(items) if items is not None else len(vectors.ids)
    click.echo(f"{'Upserted' if upsert else 'Added'} {n} items; {len(engine.index)} in {index_dir}")


def _catalog_to_add(
    index_dir: Path,
    catalog: Path,
    fields: str | None,
    id_column: str,
    row_ids: bool,
    mapping: tuple[str, ...],
) -> Any:
    """The catalogue to encode with the index's model; an index without one is refused first."""
    from simsearch.cli._common import index_model_dir
    from simsearch.index import read_manifest

    if "model" not in read_manifest(index_dir).get("extra", {}):
        raise ConfigError(
            f"Expected --vectors and --ids for '{index_dir}', built from vectors without a model. "
            "Received: --catalog (no model to encode it)"
        )
    return load_catalog(catalog, index_model_dir(index_dir, None), fields, id_column, row_ids, mapping)


def _engine_for_vectors(index_dir: Path) -> Any:
    """The index alone: vectors need no model, so none is loaded (nor TensorFlow)."""
    from simsearch.engine import SearchEngine
    from simsearch.index import load_index

    return SearchEngine(load_index(index_dir), path=index_dir)


@click.command("delete")
@click.option("--index", "index_dir", type=INDEX, required=True)
@click.option("--id", "ids", multiple=True, help="Catalogue id to delete (repeatable).")
@click.option("--ids-file", type=_PATH, help="A file with one id per line.")
@encoding_option
@wait_option
def delete_command(index_dir: Path, ids: tuple[str, ...], ids_file: Path | None, wait: bool) -> None:
    """Delete items by id; an unknown id is an error and nothing is deleted.

    Waits while another process writes the index, or fails at once with --no-wait (as `add`).
    """
    wanted = list(ids) + (_read_ids(ids_file) if ids_file else [])
    if not wanted:
        raise ConfigError("Expected --id or --ids-file. Received: neither")
    with writing(index_dir, wait=wait):
        engine = _engine_for_vectors(index_dir)  # ids only: no model needed
        engine.delete(wanted)
        engine.save()
    click.echo(f"Deleted {len(wanted)} items; {len(engine.index)} in {index_dir}")


def _read_ids(path: Path) -> list[str]:
    """One id per line of `path`, in the command's --encoding, each held to the id limits."""
    from simsearch.data.loaders import decode_error, text_codec
    from simsearch.validation import check_text

    encoding = table_encoding()
    try:
        text = path.read_text(encoding=text_codec(encoding))
    except UnicodeDecodeError as exc:
        raise decode_error(exc, encoding, path) from None
    return [
        check_text(line.strip(), f"line {i + 1} of '{path}'")
        for i, line in enumerate(text.split("\n"))
        if line.strip()
    ]
