"""`simsearch query`: nearest neighbours of an id, a vector, a text, a record, an image or a file of
items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import (
    WHERE_HELP,
    encoding_option,
    index_model_dir,
    json_record,
    load_catalog_table,
    map_option,
    parse_map,
    parse_where,
)
from simsearch.cli._index_dir import INDEX
from simsearch.cli._vectors import parse_vector
from simsearch.data.records import check_records, input_fields
from simsearch.errors import ConfigError, DataError
from simsearch.model_config import read_config
from simsearch.tower_kinds import tower_kind
from simsearch.validation import check_radius, check_text, parse_id

_PATH = click.Path(exists=True, path_type=Path)


@click.command("query")
@click.option("--index", "index_dir", type=INDEX, required=True, help="Index directory from `build-index`.")
@click.option(
    "--model", "model_dir", type=_PATH, help="Model directory (default: the one the index records)."
)
@click.option("--id", "ids", multiple=True, help="Catalogue id to query with (repeatable); itself left out.")
@click.option("--text", "texts", multiple=True, help="Text to query with (text models; repeatable).")
@click.option(
    "--record", "records", multiple=True, help="JSON record to query with (record models; repeatable)."
)
@click.option("--image", "images", multiple=True, type=_PATH, help="Image file to query with (repeatable).")
@click.option(
    "--vector",
    "vectors",
    multiple=True,
    help="A vector of the index's dim to query with (repeatable): 0.1,0.2,... or a JSON list.",
)
@click.option("--queries", type=_PATH, help="CSV/JSONL of items (with their content fields) to query with.")
@encoding_option
@map_option
@click.option("-k", "k", type=int, default=10, show_default=True, help="Neighbours per query.")
@click.option(
    "--rerank",
    type=int,
    help="Re-rank the N nearest by the pairwise head or --reranker (default: the model's, 0 or 50; "
    "50 with --reranker).",
)
@click.option(
    "--reranker",
    type=_PATH,
    help="A cross-encoder directory (`simsearch train-reranker`) that re-scores the top hits "
    "(default depth 50) from the query's text and the hits' stored fields, in place of the head.",
)
@click.option("--radius", type=float, help="Everything within this distance, instead of the top k.")
@click.option("--where", help=WHERE_HELP)
@click.option("--nprobe", type=int, help="IVF lists visited per query.")
@click.option("--ef-search", type=int, help="HNSW candidate list size.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per query: {query, hits: [{id, distance, score}]}.",
)
def query(index_dir: Path, model_dir: Path | None, **options: Any) -> None:
    """Query an index; prints a table per query, or JSON lines with --json.

    An index built from your own vectors has no model: query it by --id or --vector.
    """
    sources = [name for name in ("ids", "texts", "records", "images", "vectors") if options[name]]
    sources += ["queries"] if options["queries"] else []
    if options["mapping"] and sources != ["queries"]:
        raise ConfigError(f"Expected --map with --queries. Received: --map with {sources or 'none'}")
    if len(sources) != 1:
        raise ConfigError(
            "Expected exactly one of --id, --text, --record, --image, --vector or --queries. "
            f"Received: {sources or 'none'}"
        )
    # Inputs are checked against the model's config.json and the index's manifest before
    # TensorFlow loads (15-35 s).
    if options["radius"] is not None:
        check_radius(options["radius"])
    where = parse_where(options["where"])
    config = _model_config(index_dir, model_dir, sources[0])
    labels, kwargs = _queries(sources[0], options, config, index_dir)
    from simsearch.engine import SearchEngine

    engine = SearchEngine.load(index_dir, model_dir=model_dir, reranker=options["reranker"])
    settings = engine.make_query(
        k=options["k"],
        rerank=options["rerank"],
        radius=options["radius"],
        params=_params(options),
        where=where,
    )
    hits = engine.search(**kwargs, query=settings)
    for label, row in zip(labels, hits, strict=True):
        if options["as_json"]:
            payload = {"query": label, "hits": [h.to_dict() for h in row]}
            click.echo(json.dumps(payload, default=str))
        else:
            _table(label, row)


def _params(options: dict[str, Any]) -> Any:
    from simsearch.index import SearchParams

    values = {name: options[name] for name in ("nprobe", "ef_search") if options[name] is not None}
    return SearchParams(**values) if values else None


def _model_config(index_dir: Path, model_dir: Path | None, source: str) -> dict[str, Any]:
    """The model's config.json; `{}` for an index of the user's own vectors, which only --id and
    --vector can query (without --model)."""
    from simsearch.index import read_manifest

    if model_dir is None and "model" not in read_manifest(index_dir).get("extra", {}):
        if source not in ("ids", "vectors"):
            option = {"texts": "text", "records": "record", "images": "image"}.get(source, source)
            raise ConfigError(
                f"Expected --id or --vector for '{index_dir}', built from vectors without a model. "
                f"Received: --{option} (no model to encode it)"
            )
        return {}
    return read_config(index_model_dir(index_dir, model_dir))


def _queries(
    source: str, options: dict[str, Any], config: dict[str, Any], index_dir: Path
) -> tuple[list[Any], dict[str, Any]]:
    kind, fields = str(config.get("kind")), input_fields(config.get("inputs", {}))
    if source == "ids":
        from simsearch.index import read_manifest

        id_kind = "int" if read_manifest(index_dir)["id_type"] == "int64" else "str"
        ids = [parse_id(value, id_kind, "--id") for value in options["ids"]]
        return ids, {"ids": ids}
    if source == "vectors":
        vectors = [parse_vector(text) for text in options["vectors"]]
        _check_dims(vectors, index_dir)
        return [f"vector {i}" for i in range(len(vectors))], {"vectors": vectors}
    if source == "images":
        _require(kind, "image", "--image")
        return [str(p) for p in options["images"]], {"items": [str(p) for p in options["images"]]}
    if source == "texts":
        _require(kind, "text", "--text")
        texts = [check_text(text, "--text") for text in options["texts"]]
        return texts, {"items": texts}
    if source == "records":
        _require(kind, "record", "--record")
        given = [json_record(r, "--record") for r in options["records"]]
        return given, {"items": check_records(given, fields)}
    table = load_catalog_table(options["queries"], fields, parse_map(options["mapping"]))
    return table.ids.tolist(), {"items": table.content()}


def _check_dims(vectors: list[list[float]], index_dir: Path) -> None:
    from simsearch.index import read_manifest

    dim = read_manifest(index_dir)["dim"]
    wrong = [len(v) for v in vectors if len(v) != dim]
    if wrong:
        raise DataError(f"Expected --vector of {dim} numbers (the index's dim). Received: {wrong[0]}")


def _require(kind: str, wanted: str, option: str) -> None:
    if tower_kind(kind).item != wanted:  # a face model reads photos
        raise ConfigError(f"Expected {option} for a {wanted} model. Received: a {kind} model")


def _table(label: Any, hits: list[Any]) -> None:
    click.echo(f"\nquery: {label}")
    if not hits:
        click.echo("  (no hits)")
        return
    width = max(len(str(h.id)) for h in hits)
    click.echo(f"  {'rank':>4}  {'id':<{width}}  {'distance':>9}  {'score':>7}")
    for rank, hit in enumerate(hits, 1):
        score = "" if hit.score is None else f"{hit.score:.4f}"
        click.echo(f"  {rank:>4}  {hit.id!s:<{width}}  {hit.distance:>9.4f}  {score:>7}")
