"""`simsearch dedup` and `simsearch match`: duplicate pairs and groups inside an indexed catalogue,
and matches of another catalogue against it.

Thresholds, in order of precedence: `--threshold T` (head probability at least T when re-ranking,
index distance at most T otherwise), `--min-precision P` (the loosest threshold whose precision
on the model's held-out pairs reached P), else the calibrated best-F1 threshold stored with the
index. Without re-ranking nothing loads TensorFlow: the index alone answers.

`--reranker DIR` (local engine) re-scores the candidates with a cross-encoder instead of the
head (`simsearch train-reranker`), reading the items' texts: the index's stored metadata, and
catalogue B's rows for `match`. Its thresholds and precision curve are the cross-encoder's (or
its fusion's with the model's distance, when it was fitted with this model).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import catalog_options, encoding_option, map_option, parse_where, table_encoding
from simsearch.cli._engine import check_engine, dask_client, engine_options
from simsearch.cli._index_dir import INDEX
from simsearch.cli._vectors import load_vector_options, vector_options
from simsearch.errors import ConfigError, DataError
from simsearch.tower_kinds import tower_kind

logger = logging.getLogger(__name__)

_PATH = click.Path(exists=True, path_type=Path)
_OUT = click.Path(path_type=Path)  # a file, or with --engine dask a directory of Parquet parts


def _common_options(command: Any) -> Any:
    options = [
        click.option("-k", "--k", "k", type=int, default=10, show_default=True, help="Candidates per item."),
        click.option(
            "--rerank/--no-rerank",
            default=None,
            help="Re-score candidates with the model's pairwise head and keep by its probability "
            "(--rerank), or keep by the distance (--no-rerank). Default: the head decides only "
            "when it was trained and beat the distance on held-out data; else the distance does.",
        ),
        click.option(
            "--threshold",
            type=float,
            help="Keep pairs with head probability >= T (re-ranked) or distance <= T (not).",
        ),
        click.option(
            "--min-precision",
            type=float,
            help="Use the loosest threshold that reached this precision on the model's held-out pairs.",
        ),
        click.option(
            "--max-distance",
            type=float,
            help="With --rerank: score only candidates at most this far (default: all k).",
        ),
        click.option("--nprobe", type=int, help="IVF lists searched per item (default 8).", default=8),
        click.option("--ef-search", type=int, default=128, show_default=True, help="HNSW search depth."),
        click.option("--chunk-size", type=int, default=4096, show_default=True, help="Items per search."),
        click.option("--model", "model_dir", type=_PATH, help="Model directory (default: the index's)."),
        click.option(
            "--where",
            help="Restrict the indexed catalogue to the items whose metadata pass this JSON filter, "
            'e.g. \'{"shop": "b"}\' (dedup: pairs among them only; match: A\'s candidates only).',
        ),
        click.option(
            "--explain",
            is_flag=True,
            help="Add an `explain` column: why each pair was kept, as compact JSON (per field: agrees "
            "or differs, its similarity alone, how much it pulled the pair together, the words that "
            "did most). Text and record models, local engine; it re-encodes each pair's variants, "
            "so it costs about (2 x fields + words) encodings per pair.",
        ),
        click.option(
            "--reranker",
            "reranker_dir",
            type=_PATH,
            help="Re-score candidates with this cross-encoder (simsearch train-reranker) instead of "
            "the head, from the items' texts; its own calibrated threshold. Local engine only.",
        ),
    ]
    command = engine_options(command)
    for option in reversed(options):
        command = option(command)
    return command


@click.command("dedup")
@click.option("--index", "index_dir", type=INDEX, required=True, help="Index directory to deduplicate.")
@click.option("--out", type=_OUT, required=True, help="Pairs file: .csv, .jsonl or .parquet.")
@click.option(
    "--groups",
    "groups_out",
    type=_OUT,
    is_flag=False,
    flag_value="",
    help="Also cluster the pairs into duplicate groups and write each item's group id to this file "
    "(bare --groups: next to --out, as NAME.groups.EXT).",
)
@click.option(
    "--group-method",
    type=click.Choice(["average", "center", "components"]),
    default="average",
    show_default=True,
    help="average linkage does not chain unrelated items through a path of pairs; "
    "components (transitive closure) does.",
)
@click.option(
    "--existing-groups",
    type=_PATH,
    help="Groups file of an earlier run: only items not in it are searched, and existing groups keep "
    "their ids (incremental dedup after `simsearch add`).",
)
@_common_options
def dedup_command(index_dir: Path, out: Path, **options: Any) -> None:
    """Find the near-duplicate pairs (and groups) inside an indexed catalogue.

    With --engine dask, --out and --groups are directories of Parquet part files (NAME.parquet/).

    \b
    simsearch dedup --index indexes/products --out pairs.csv --groups groups.csv
    simsearch dedup --index indexes/products --out new.csv --existing-groups groups.csv --groups groups.csv
    simsearch dedup --index indexes/products --out pairs.parquet --groups --engine dask
    """
    from simsearch.dedup import find_duplicates, group_pairs, read_groups, write_groups, write_pairs

    _check_reranker(options)
    dask = check_engine(options)
    check_out = _check_output(dask)
    check_out(out)
    groups_out = _groups_path(out, options["groups_out"])
    if options["existing_groups"] and groups_out is None:
        raise ConfigError("Expected --groups FILE with --existing-groups. Received: no --groups")
    if groups_out is not None:
        check_out(groups_out)
    options["where"] = parse_where(options["where"])
    if options["where"] is not None and options["existing_groups"]:
        raise ConfigError("Expected --where or --existing-groups, not both. Received: both")
    job = _open(index_dir, options, pairs_of="one catalogue", need_model=options["explain"])
    existing = read_groups(options["existing_groups"]) if options["existing_groups"] else None
    new_ids = _new_ids(job.index, existing) if existing is not None else None
    catalogue = job.index.ids if options["where"] is None else job.index.allowed_ids(options["where"])
    if dask:
        from simsearch.distributed import find_duplicates_dask

        queries = catalogue.tolist() if options["where"] is not None else new_ids
        with dask_client(options) as client:
            pairs = find_duplicates_dask(
                client, index_dir, job.index.ids, job.spec(options), out,
                query_ids=queries, partitions=options["partitions"],
            )  # fmt: skip
    else:
        pairs = find_duplicates(job.index, job.pair_filter(options), query_ids=new_ids, **_run(options))
        write_pairs(pairs, out, explain=_explanations(job, pairs) if options["explain"] else None)
    click.echo(f"{len(pairs)} duplicate pairs among {len(catalogue)} items ({job.rule}) -> {out}")
    if groups_out is None:
        return
    cut = job.cut()
    if existing is None:
        ids, groups = catalogue, group_pairs(catalogue, pairs, method=options["group_method"], **cut)
    else:
        ids, groups = _merged_groups(job.index, existing, new_ids or [], pairs, options["group_method"], cut)
    if dask:
        _write_groups_parts(ids, groups, groups_out, options["partitions"])
    else:
        write_groups(ids, groups, groups_out)
    click.echo(f"{len(set(groups.tolist()))} groups over {len(ids)} items -> {groups_out}")


@click.command("match")
@click.option("--index", "index_dir", type=INDEX, required=True, help="Index of catalogue A.")
@click.option("--catalog", type=_PATH, help="Catalogue B (CSV/JSONL with an id column, or images).")
@vector_options("Catalogue B")
@click.option("--out", type=_OUT, required=True, help="Matches file: .csv, .jsonl or .parquet.")
@click.option("--fields", help="Comma-separated content fields of B (default: the model's).")
@map_option
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option(
    "--one-to-one",
    type=click.Choice(["greedy", "hungarian"]),
    is_flag=False,
    flag_value="greedy",
    help="Keep each item of A and of B in at most one match: greedy (bare flag; strongest pair "
    "first) or hungarian (largest total score, needs SciPy). Local engine only.",
)
@catalog_options
@encoding_option
@_common_options
def match_command(index_dir: Path, catalog: Path | None, out: Path, **options: Any) -> None:
    """Match every item of catalogue B against the indexed catalogue A.

    Writes `left_id` (from A), `right_id` (from B), `distance`, `score` (with --engine dask, as a
    directory of Parquet part files, one per partition of B). Catalogue B is items the index's
    model encodes (--catalog), or your own --vectors with --ids (the only way for an index built
    from vectors, which has no model).

    \b
    simsearch match --index indexes/abt --catalog buy.csv --out matches.csv
    simsearch match --index indexes/abt --catalog buy.jsonl --out matches.parquet --engine dask
    simsearch match --index indexes/own --vectors B.npy --ids B_ids.txt --threshold 0.2 --out matches.csv
    """
    from simsearch.cli._catalog import check_dask_ids, load_catalog
    from simsearch.dedup import match_catalogues
    from simsearch.engine import encode_batches

    _check_reranker(options)
    dask = check_engine(options)
    if dask and options["one_to_one"]:
        raise ConfigError("Expected --one-to-one on the local engine. Received: --engine dask")
    if (catalog is None) == (options["vectors"] is None):
        raise ConfigError(
            "Expected --catalog or --vectors (with --ids) for catalogue B. Received: "
            + ("both" if catalog is not None else "neither")
        )
    if dask and catalog is None:
        raise ConfigError("Expected --catalog with --engine dask. Received: --vectors")
    _check_output(dask)(out)
    options["where"] = parse_where(options["where"])
    if options["explain"] and catalog is None:
        raise ConfigError("Expected --catalog with --explain (it reads B's fields). Received: --vectors")
    own = load_vector_options(options)
    job = _open(index_dir, options, need_model=catalog is not None, pairs_of="two catalogues")
    if options["where"] is not None:
        job.index.allowed(options["where"])  # fields and types checked before B is read
    if own is not None:
        pairs = match_catalogues(
            job.index, own.embeddings, own.ids, job.pair_filter(options), **_run(options)
        )
        _write_matches(
            pairs, out, options["one_to_one"], f"{len(own.ids)} items of {options['vectors']}", job.rule
        )
        return
    assert catalog is not None
    if dask:
        from simsearch.cli._common import split_list
        from simsearch.distributed import match_catalog_dask

        check_dask_ids(options["row_ids"])
        if options["mapping"]:
            raise ConfigError("Expected --map on the local engine. Received: --engine dask")
        with dask_client(options) as client:
            pairs, n_items = match_catalog_dask(
                client, index_dir, catalog, job.spec(options), out, fields=split_list(options["fields"]),
                partitions=options["partitions"], batch_size=options["batch_size"],
                id_column=options["id_column"], encoding=table_encoding(),
            )  # fmt: skip
        click.echo(f"{len(pairs)} matches for {n_items} items of {catalog} ({job.rule}) -> {out}")
        return
    items = load_catalog(
        catalog,
        job.model_dir,
        options["fields"],
        options["id_column"],
        options["row_ids"],
        options["mapping"],
    )
    if len(items) == 0:
        raise DataError(f"Expected a non-empty catalogue B. Received: 0 items in '{catalog}'")
    xq = encode_batches(job.model, items.content(), len(items), options["batch_size"])
    right = None
    if job.engine is not None and job.engine.reranker is not None:  # B's texts, by id
        right = dict(zip(items.ids.tolist(), job.engine.reranker.texts(items.content()), strict=True))
    pairs = match_catalogues(job.index, xq, items.ids, job.pair_filter(options, right), **_run(options))
    explain = (lambda kept: _explanations(job, kept, items)) if options["explain"] else None
    _write_matches(pairs, out, options["one_to_one"], f"{len(items)} items of {catalog}", job.rule, explain)


def _write_matches(
    pairs: Any, out: Path, one_to_one_by: Any, what: str, rule: str, explain: Any = None
) -> None:
    """Keep each item in one match with --one-to-one, write the pairs (with `explain(kept)`, the
    kept pairs' explanations, when given) and say what was written."""
    from simsearch.dedup import one_to_one, write_pairs

    if one_to_one_by:
        pairs = one_to_one(pairs, one_to_one_by)
    write_pairs(pairs, out, explain=explain(pairs) if explain is not None else None)
    kind = f", one-to-one ({one_to_one_by})" if one_to_one_by else ""
    click.echo(f"{len(pairs)} matches for {what} ({rule}{kind}) -> {out}")


@dataclass
class _Job:
    """An opened index, its model when re-ranking, and the threshold rule."""

    index: Any
    model: Any
    model_dir: Path | None
    rerank: bool
    max_distance: float | None
    min_score: float | None
    rule: str
    engine: Any = None  # the SearchEngine when the model is loaded

    def pair_filter(self, options: dict[str, Any], right: dict[Any, str] | None = None) -> Any:
        """The `PairFilter` of `find_duplicates` / `match_catalogues`: the head scores, or the
        cross-encoder (`right`: catalogue B's texts by id, for a match)."""
        from simsearch.dedup import EmbeddingScorer, IdScorer

        scorer: Any = None
        if self.rerank and self.engine is not None and self.engine.reranker is not None:
            scorer = IdScorer(self.engine.cross_pair_scorer(right))
        elif self.rerank:
            scorer = EmbeddingScorer(self.model.score_pairs)
        return self._filter(options, scorer)

    def spec(self, options: dict[str, Any]) -> Any:
        """The filter as the Dask engine takes it: the head by path, loaded on its workers."""
        from simsearch.distributed import JoinSpec, WorkerHeadScorer

        model_dir = None if self.model_dir is None else str(self.model_dir)
        scorer = WorkerHeadScorer(model_dir or "") if self.rerank else None
        return JoinSpec(self._filter(options, scorer), model_dir, **_run(options))

    def _filter(self, options: dict[str, Any], scorer: Any) -> Any:
        from simsearch.dedup import PairFilter

        return PairFilter(
            k=options["k"],
            max_distance=self.max_distance,
            min_score=self.min_score,
            scorer=scorer,
            where=options["where"],
        )

    def cut(self) -> dict[str, float | None]:
        """The threshold groups are cut at: the one pairs were kept by."""
        if self.rerank:
            return {"min_score": self.min_score, "max_distance": None}
        return {"max_distance": self.max_distance, "min_score": None}


def _run(options: dict[str, Any]) -> dict[str, Any]:
    """How a join runs, apart from what it keeps: rows per search, query-time FAISS settings."""
    from simsearch.index import SearchParams

    return {
        "chunk_size": options["chunk_size"],
        "params": SearchParams(nprobe=options["nprobe"], ef_search=options["ef_search"]),
    }


def _check_reranker(options: dict[str, Any]) -> None:
    """--reranker needs --rerank and the local engine, --explain the local engine: checked before
    anything is read."""
    if options["reranker_dir"] is not None and (options["rerank"] is False or options["engine"] == "dask"):
        raise ConfigError(
            "Expected --reranker with --rerank on the local engine. Received: "
            + ("--no-rerank" if options["rerank"] is False else "--engine dask")
        )
    if options["explain"] and options["engine"] == "dask":
        raise ConfigError("Expected --explain on the local engine. Received: --engine dask")


_EXPLAIN_CHUNK = 64  # pairs explained per batch of encodings


def _explanations(job: _Job, pairs: Any, right: Any = None) -> list[str]:
    """The `explain` column: why each kept pair was judged the same, as compact JSON, from the
    items' stored fields (and catalogue B's, `right`, for a match); in the head's probability
    when the head decides, else in distance (also with a cross-encoder, which reads no fields)."""
    from simsearch.engine import item_metadata

    left_records = job.index.metadata(pairs.left_ids.tolist())
    if right is None:
        right_records = job.index.metadata(pairs.right_ids.tolist())
    else:
        by_id = dict(zip(right.ids.tolist(), item_metadata(right), strict=True))
        right_records = [by_id[i] for i in pairs.right_ids.tolist()]
    head = job.rerank and (job.engine is None or job.engine.reranker is None)
    out: list[str] = []
    for start in range(0, len(pairs), _EXPLAIN_CHUNK):
        rows = slice(start, start + _EXPLAIN_CHUNK)
        explained = job.model.explain_pairs(left_records[rows], right_records[rows], same=True, head=head)
        out += [explanation.to_json() for explanation in explained]
    logger.info("Explained %d pairs", len(pairs))
    return out


def _head_decides(index_dir: Path, options: dict[str, Any]) -> bool:
    """The model's own rule, read without loading it: does its head decide (trained, and it beat
    the distance on held-out data)? A cross-encoder re-ranker, when given, always does."""
    from simsearch.dedup.decision import head_decides
    from simsearch.index import read_manifest
    from simsearch.model_config import read_config

    if options["reranker_dir"] is not None:
        return True
    if options["model_dir"] is not None:
        return head_decides(read_config(options["model_dir"]).get("head", {}))
    return head_decides(read_manifest(index_dir).get("extra", {}))


def _open(index_dir: Path, options: dict[str, Any], *, pairs_of: str, need_model: bool = False) -> _Job:
    """Open the index (and its model when needed) and decide the rule and its threshold;
    `pairs_of` is the kind of pairs searched ("one catalogue" for dedup, "two catalogues" for
    match)."""
    from simsearch.dedup.decision import choose_decision
    from simsearch.index import load_index, read_manifest

    chosen = options["rerank"] is not None
    rerank = bool(options["rerank"]) if chosen else _head_decides(index_dir, options)
    options = {**options, "rerank": rerank}
    if not rerank and options["max_distance"] is not None:
        raise ConfigError("Expected --max-distance only with --rerank (else use --threshold). Received: both")
    reranker = options["reranker_dir"]
    engine = None
    extra = read_manifest(index_dir).get("extra", {})
    if rerank or need_model:
        from simsearch.engine import SearchEngine

        engine = SearchEngine.load(index_dir, model_dir=options["model_dir"], reranker=reranker)
        index, model, model_dir = engine.index, engine.model, engine.model_dir
        if options["explain"] and tower_kind(model.kind).is_image:
            raise DataError(
                f"Expected a text or record model with --explain. Received: a model of kind {model.kind!r}"
            )
        threshold, curves = model.threshold, model.calibration
        calibrated_on = model.config.get("calibrated_on")
        if reranker is not None:
            cut, curve = engine.cross_calibration
            threshold, curves = {"cross-encoder score": cut}, {"cross-encoder score": curve}
            calibrated_on = None  # train-reranker does not record it
    else:
        index, model, model_dir = load_index(index_dir), None, None
        threshold, curves = extra.get("threshold") or {}, extra.get("calibration") or {}
        calibrated_on = extra.get("calibrated_on")
    decision = choose_decision(
        threshold,
        curves,
        rerank=rerank,
        chosen=chosen or (model is None and "model" not in extra),  # no model: no head to choose
        reranker=reranker is not None,
        fixed=options["threshold"],
        min_precision=options["min_precision"],
        calibrated_on=calibrated_on,
        pairs_of=pairs_of,
    )
    if rerank:
        return _Job(
            index, model, model_dir, True, options["max_distance"], decision.threshold, decision.rule, engine
        )
    return _Job(index, model, model_dir, False, decision.threshold, None, decision.rule, engine)


def _check_output(dask: bool) -> Any:
    """The output check of the engine: one file (local), a directory of Parquet parts (dask)."""
    if dask:
        from simsearch.distributed.parts import check_output_dir

        return check_output_dir
    from simsearch.dedup import check_output_path

    return check_output_path


def _write_groups_parts(ids: Any, groups: Any, path: Path, partitions: int | None) -> None:
    from simsearch.distributed.parts import commit_dir, staging_dir, write_groups_parts

    tmp = staging_dir(path)
    try:
        write_groups_parts(ids, groups, tmp, partitions or 1)
        commit_dir(tmp, path)
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _groups_path(out: Path, groups: Path | None) -> Path | None:
    if groups is None:
        return None
    if str(groups) in ("", "."):
        return out.with_name(f"{out.stem}.groups{out.suffix}")
    return groups


def _new_ids(index: Any, existing: tuple[Any, Any]) -> Any:
    import numpy as np

    known = set(np.asarray(existing[0]).astype(str).tolist())
    ids = index.ids
    new = [i for i, s in zip(ids.tolist(), ids.astype(str).tolist(), strict=True) if s not in known]
    logger.info("Incremental dedup: %d new items, %d with existing groups", len(new), len(ids) - len(new))
    return new


def _merged_groups(
    index: Any, existing: tuple[Any, Any], new_ids: list[Any], pairs: Any, method: str, cut: dict[str, Any]
) -> tuple[Any, Any]:
    """All live items' groups: existing ones unchanged, new ones assigned (deleted items dropped)."""
    import numpy as np

    from simsearch.dedup import assign_groups

    old_ids, old_groups = existing
    old_text, text_ids = np.asarray(old_ids).astype(str), index.ids.astype(str)
    live = np.isin(old_text, text_ids)
    if not live.all():
        logger.info("Dropping %d grouped items no longer in the index", int((~live).sum()))
    position = {s: i for i, s in enumerate(text_ids.tolist())}
    kept_ids = index.ids[[position[s] for s in old_text[live].tolist()]]
    new_groups = assign_groups((kept_ids, old_groups[live]), new_ids, pairs, method=method, **cut)
    ids = np.concatenate([kept_ids, np.asarray(new_ids, dtype=index.ids.dtype)])
    return ids, np.concatenate([old_groups[live], new_groups])
