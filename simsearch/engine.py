"""`SearchEngine`: an index directory together with its model — the one library module that knows
both. Build an index from a catalogue, search it with raw items, vectors or ids, update it by id.

    engine = build_index("models/omniglot", load_items("catalogue/"), "indexes/omniglot")
    engine = SearchEngine.load("indexes/omniglot")
    engine.search(items=images, k=5)                 # raw items, encoded by the model's tower
    engine.search(ids=["Angelic/character01/03"])    # catalogue items, themselves left out
    engine.search(vectors=xq, query=Query(k=5, radius=0.3))  # the settings as one `Query`
    engine.add(new_images, ids=[...]); engine.delete([...]); engine.save()
    engine = SearchEngine.load("indexes/stsb", reranker="models/stsb-reranker")  # cross-encoder

The index directory refers to its model by path and sha256 (of `tower.keras`, `head.keras` and
`config.json`, `simsearch.model_config.model_hash`); loading refuses a model that does not match.
The search itself (k or radius, re-ranking by the head or the cross-encoder) is
`simsearch.search.Searcher`'s; the engine plugs the model in and turns its arguments into a `Query`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.data.records import check_records, input_fields
from simsearch.errors import ConfigError, DataError, IndexFileError
from simsearch.index import FaissIndex, IndexConfig, SearchParams, load_index, read_manifest, save_index
from simsearch.index.budget import Budget, build_for_budget
from simsearch.lazy_model import LazyModel, open_model
from simsearch.model_config import manifest_extra, model_hash, recorded_model_dir
from simsearch.search.cross import CrossScorer, is_records, pair_scorer
from simsearch.search.hits import Hit
from simsearch.search.identify import Identity, choose_threshold, decide, enrol, enrolled_threshold
from simsearch.search.query import Query
from simsearch.search.searcher import Searcher
from simsearch.tower_kinds import tower_kind
from simsearch.validation import check_id, parse_id

__all__ = [
    "DEFAULT_RERANK_DEPTH",
    "VECTORS_EXTRA",
    "SearchEngine",
    "build_index",
    "build_vector_index",
    "check_saved_index",
]

logger = logging.getLogger(__name__)

DEFAULT_RERANK_DEPTH = 50
# What the manifest of an index built from the user's own vectors records in place of a model.
VECTORS_EXTRA = {"source": "vectors"}


class SearchEngine:
    """A `FaissIndex` and the `SiameseModel` that encoded it.

    Args:
        index: the built index.
        model: the model (`simsearch.models.SiameseModel`).
        path: the index directory, where `save` writes.
        model_dir: the model directory the index refers to.
        reranker: a cross-encoder (`simsearch.models.CrossEncoder`) that re-scores the top hits
            in place of the pairwise head, reading the query's text and each hit's stored
            metadata (the fields it was trained on must be in the index's metadata).
    """

    def __init__(
        self,
        index: FaissIndex,
        model: Any = None,
        *,
        path: str | os.PathLike[str] | None = None,
        model_dir: str | os.PathLike[str] | None = None,
        reranker: Any = None,
    ) -> None:
        if model is not None and index.dim != model.dim:
            raise DataError(f"Expected a model of dim {index.dim} (the index's). Received: dim={model.dim}")
        if model is not None and index.metric != model.metric:
            raise DataError(
                f"Expected a model with metric {index.metric!r} (the index's). "
                f"Received: metric={model.metric!r}"
            )
        self.index = index
        self._model = model
        self.path = None if path is None else Path(path)
        self.model_dir = None if model_dir is None else Path(model_dir)
        if reranker is not None and (model is None or tower_kind(model.kind).is_image):
            raise ConfigError(
                "Expected a text or record model with a cross-encoder re-ranker. Received: "
                + ("an index without a model" if model is None else "an image model")
            )
        self.reranker = reranker
        cross = None if reranker is None else CrossScorer(texts=reranker.texts, score=reranker.score)
        score_pairs = None if model is None else model.score_pairs
        self.searcher = Searcher(index, score_pairs=score_pairs, cross=cross)
        self._fusion_ok: bool | None = None  # decided on the first re-ranked search
        # make_query's answers by its arguments: a Query is immutable and costs µs to validate
        self._queries: dict[tuple[Any, ...], Query] = {}
        # {"max_far", "threshold", "n_impostor"} chosen at enrolment (`enrol --max-far`), or {}
        self.identification: dict[str, Any] = {}

    @property
    def model(self) -> Any:
        """The `SiameseModel`; `ConfigError` for an index built from the user's own vectors, which
        has none (search it by vectors or ids)."""
        if self._model is None:
            raise ConfigError(
                "Expected an index built with a model (build-index --model) to encode raw items or "
                f"re-rank. Received: {'the index' if self.path is None else repr(str(self.path))}, "
                "built from vectors without a model: search and add by vectors and ids"
            )
        return self._model

    @property
    def has_model(self) -> bool:
        """Whether raw items can be encoded (False for an index of the user's own vectors)."""
        return self._model is not None

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        model_dir: str | os.PathLike[str] | None = None,
        verify: bool = True,
        reranker: str | os.PathLike[str] | None = None,
    ) -> SearchEngine:
        """Load an index directory and its model (the one recorded in the manifest by default),
        and a cross-encoder directory as its re-ranker when `reranker` is given.

        An index built from the user's own vectors records no model: it loads without one (and
        without TensorFlow), unless `model_dir` names one of its dim and metric."""
        extra = read_manifest(path).get("extra", {})
        if model_dir is None and "model" not in extra:  # the user's own vectors: no model to load
            if reranker is not None:
                raise ConfigError(
                    "Expected an index built with a model for a cross-encoder re-ranker. Received: "
                    f"{str(path)!r}, built from vectors without a model"
                )
            engine = cls(load_index(path, verify=verify), path=path)
            engine.identification = dict(extra.get("identify") or {})
            return engine
        recorded = extra.get("model", {})
        model_path = Path(model_dir) if model_dir is not None else recorded_model_dir(path)
        # The model the index recorded loads on first use (a search by vectors or ids needs
        # none); any other is loaded (and checked) first, so that a damaged or mixed-up file is
        # named, not just a hash that differs.
        model = open_model(model_path, recorded.get("sha256") if verify else None)
        if verify and recorded.get("sha256") and not isinstance(model, LazyModel):  # its hash differs
            raise IndexFileError(
                f"Expected the model the index was built with (sha256 {recorded['sha256'][:12]}…). "
                f"Received: '{model_path}' with sha256 {model_hash(model_path)[:12]}…; rebuild the index "
                "or pass the original model"
            )
        index = load_index(path, verify=verify)
        cross = None
        if reranker is not None:
            from simsearch.models.cross import CrossEncoder

            cross = CrossEncoder.load(reranker)
        engine = cls(index, model, path=path, model_dir=model_path, reranker=cross)
        engine.identification = dict(extra.get("identify") or {})
        return engine

    @property
    def rerank_default(self) -> int:
        """The re-rank depth used when a search names none: 0 when the head did not beat the
        tower's distance on held-out data when the model was trained; with a cross-encoder
        re-ranker, always `DEFAULT_RERANK_DEPTH` (except for searches by vectors, which have no
        text for it)."""
        return self.default_depth()

    def default_depth(self, *, by_vectors: bool = False) -> int:
        """The re-rank depth of a search that names none: `DEFAULT_RERANK_DEPTH` for the
        cross-encoder when one is loaded and the search has texts to give it (items or ids);
        else the pairwise head's (`head_rerank_default`), as for searches by vectors."""
        if self.reranker is not None and not by_vectors:
            return DEFAULT_RERANK_DEPTH
        return self.head_rerank_default

    @property
    def head_rerank_default(self) -> int:
        """The pairwise head's default re-rank depth: `DEFAULT_RERANK_DEPTH` when the head beat
        the tower's distance on held-out data when the model was trained, else 0."""
        if self._model is None:
            return 0
        helps = bool(self._model.config.get("head", {}).get("rerank_default", False))
        return DEFAULT_RERANK_DEPTH if helps else 0

    def make_query(
        self,
        *,
        k: int = 10,
        rerank: int | None = None,
        radius: float | None = None,
        params: SearchParams | None = None,
        exclude_self: bool = True,
        by_vectors: bool = False,
        where: Any = None,
    ) -> Query:
        """The `Query` of a search with this engine's defaults and re-rankers.

        The cross-encoder re-ranks when one is loaded, except for a search `by_vectors` (no text
        to read) that names no depth; its score is fused with the distance when its fusion weights
        were fitted with this engine's model. Otherwise the pairwise head re-ranks. `rerank=None`
        is the default depth (`default_depth`). `where` is a metadata filter (a JSON where, see
        `simsearch.search.where`, or a `Where`).
        """
        if where is not None:  # a JSON filter (unhashable) is compiled per call
            return self._make_query(k, rerank, radius, params, exclude_self, by_vectors, where)
        # types too: True == 1 == 1.0, but Query refuses k=True and k=1.0
        key = (type(k), k, type(rerank), rerank, type(radius), radius, params, exclude_self, by_vectors)
        try:
            return self._queries[key]
        except (KeyError, TypeError):  # TypeError: an unhashable argument, refused by Query
            pass
        query = self._make_query(k, rerank, radius, params, exclude_self, by_vectors)
        if len(self._queries) >= 1024:  # settings vary little: bound the cache, never evict
            self._queries.clear()
        self._queries[key] = query
        return query

    def _make_query(
        self,
        k: int,
        rerank: int | None,
        radius: float | None,
        params: SearchParams | None,
        exclude_self: bool,
        by_vectors: bool,
        where: Any = None,
    ) -> Query:
        cross = self.reranker is not None and (not by_vectors or rerank is not None)
        depth = self.default_depth(by_vectors=by_vectors) if rerank is None else rerank
        return Query(
            k=k,
            radius=radius,
            rerank=depth,
            reranker="cross" if cross else "head",
            fusion=cross and bool(depth) and self._fusion_applies(),
            params=params,
            exclude_self=exclude_self,
            filter=where,
        )

    def search(
        self,
        items: Any = None,
        *,
        vectors: npt.ArrayLike | None = None,
        ids: Sequence[Any] | None = None,
        query: Query | None = None,
        k: int = 10,
        rerank: int | None = None,
        radius: float | None = None,
        params: SearchParams | None = None,
        exclude_self: bool = True,
        where: Any = None,
    ) -> list[list[Hit]]:
        """Search with raw items, vectors or catalogue ids (exactly one); one hit list per query.

        Args:
            query: the search's settings; without it, `make_query` makes it from `k`, `rerank`,
                `radius`, `params`, `exclude_self` and `where`:
            rerank: re-rank depth; None = the model's default (see `rerank_default`).
            radius: return everything within this distance instead of the top `k`.
            exclude_self: leave each id query's own item out of its results.
            where: only items whose metadata pass this filter, e.g.
                `{"shop": "b", "price": {"$lt": 20}}` (`simsearch.search.where`).

        Raises:
            FilterError: a malformed `where`, or one naming a field the items lack or a value of
                another type than the field holds.
        """
        given = [
            name
            for name, value in (("items", items), ("vectors", vectors), ("ids", ids))
            if value is not None
        ]
        if len(given) != 1:
            raise ConfigError(f"Expected exactly one of items, vectors or ids. Received: {given or 'none'}")
        if query is None:
            query = self.make_query(
                k=k,
                rerank=rerank,
                radius=radius,
                params=params,
                exclude_self=exclude_self,
                by_vectors=vectors is not None,
                where=where,
            )
        elif (k, rerank, radius, params, exclude_self, where) != (10, None, None, None, True, None):
            raise ConfigError("Expected a query or its settings (k, rerank, ...), not both. Received: both")
        if is_records(items):  # the record rule, before the tower and the cross-encoder read them
            items = check_records(items, input_fields(self.model.config["inputs"]))
        if ids is not None:
            return self.searcher.run(query, ids=[self.coerce_id(i) for i in ids])
        xq = self.model.encode(items) if items is not None else np.asarray(vectors, dtype=np.float32)
        _check_vectors(xq, self.index.dim)
        return self.searcher.run(query, vectors=xq, items=items)

    @property
    def identify_threshold(self) -> float | None:
        """The distance threshold chosen at enrolment (`set_false_accept_rate`), if any, at the
        index's current size (`search.identify.enrolled_threshold`)."""
        return enrolled_threshold(self.identification, self.model.calibration, len(self.index))

    def set_false_accept_rate(self, max_far: float) -> float:
        """Choose and keep (saved with the index) the identification threshold for a share
        `max_far` of strangers accepted per identification, from the model's held-out impostor
        pairs and the index's size (`search.identify.enrol`); returns it."""
        self.identification = enrol(self.model.calibration, max_far, len(self.index))
        return float(self.identification["threshold"])

    def identify(
        self,
        items: Any = None,
        *,
        vectors: npt.ArrayLike | None = None,
        threshold: float | None = None,
        min_precision: float | None = None,
        max_far: float | None = None,
    ) -> list[Identity]:
        """Identify each query (raw items or vectors) as the identity of its nearest enrolled
        item, or "unknown" beyond the threshold (`choose_threshold`: given, for `min_precision`
        or `max_far`, else the one set at enrolment, else the model's calibrated one).

        Example:
        >>> engine.identify(["door/0412.jpg"])[0]
        Identity(identity='ann', distance=0.31, accepted=True, threshold=0.52, ...)
        """
        t = choose_threshold(
            self.model.threshold,
            self.model.calibration,
            self.identify_threshold,
            threshold=threshold,
            min_precision=min_precision,
            max_far=max_far,
            gallery_size=len(self.index),
        )
        hits = self.search(items, vectors=vectors, k=1, rerank=0)
        return [decide(row, t) for row in hits]

    def cross_pair_scorer(self, right: Any = None) -> Callable[..., npt.NDArray[np.float32]]:
        """`score_ids(left_ids, right_ids, distances) -> (n,)` by the re-ranker, for
        `find_duplicates` / `match_catalogues`: left texts from the index's metadata, right texts
        from it too or, for a match, from `right` (catalogue B: a mapping id -> text).

        Scores are the cross-encoder's probabilities, or its fusion with the distance when it was
        fitted with this model, clipped to [0, 1] (`search.cross.pair_scorer`).
        """
        cross = self.searcher.cross
        if cross is None:
            raise ConfigError("Expected a cross-encoder re-ranker. Received: none was loaded")
        return pair_scorer(cross, self.index.metadata, right, fusion=self._fusion_applies())

    @property
    def cross_calibration(self) -> tuple[float | None, list[list[float]]]:
        """The re-ranker's decision threshold and held-out precision curve, both of the score
        `cross_pair_scorer` gives (the fused one's when the fusion applies)."""
        if self.reranker is None:
            raise ConfigError("Expected a cross-encoder re-ranker. Received: none was loaded")
        return self.reranker.calibration(self._fusion_applies())

    def _fusion_applies(self) -> bool:
        """Whether the re-ranker's fusion weights were fitted with this engine's model."""
        if self._fusion_ok is None:
            self._fusion_ok = self._check_fusion()
        return self._fusion_ok

    def _check_fusion(self) -> bool:
        fusion = self.reranker.fusion if self.reranker is not None else None
        if fusion is None:
            return False
        if self.reranker.fitted_with(self.model_dir):
            return True
        logger.warning(
            "The re-ranker's fusion weights were fitted with another model (%s): re-ranking by the "
            "cross-encoder alone",
            fusion.get("model"),
        )
        return False

    def add(
        self,
        items: Any,
        ids: Sequence[Any],
        metadata: Sequence[Any] | None = None,
        *,
        upsert: bool = False,
        batch_size: int = 256,
    ) -> None:
        """Encode `items` and add them (or replace them, with `upsert`) under `ids`."""
        vectors = encode_batches(self.model, items, len(ids), batch_size)
        self.add_vectors(vectors, ids, metadata, upsert=upsert)

    def add_vectors(
        self,
        vectors: npt.ArrayLike,
        ids: Sequence[Any],
        metadata: Sequence[Any] | None = None,
        *,
        upsert: bool = False,
    ) -> None:
        """Add (or replace, with `upsert`) items by their `(n, dim)` vectors under `ids`; needs no
        model."""
        ids = [self.coerce_id(i) for i in ids]
        if upsert:
            self.index.upsert(vectors, ids, metadata)
        else:
            self.index.add(vectors, ids, metadata)

    def delete(self, ids: Sequence[Any]) -> None:
        """Delete items by catalogue id; an unknown id is an error and deletes nothing."""
        self.index.delete([self.coerce_id(i) for i in ids])

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the index directory atomically (the manifest keeps its model reference)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ConfigError("Expected a path to save the index to. Received: none")
        extra = None if target == self.path else self._manifest_extra()
        if self.identification:
            if extra is None:
                written = (target / "manifest.json").exists()
                extra = dict(read_manifest(target).get("extra", {})) if written else {}
            extra["identify"] = self.identification
        saved = save_index(target, self.index, extra)
        self.path = target
        return saved

    def _manifest_extra(self) -> dict[str, Any]:
        if self._model is None:
            return dict(VECTORS_EXTRA)
        return manifest_extra(self._model, self.model_dir)

    def coerce_id(self, value: Any) -> Any:
        """Turn an id given as text (CLI, URL) into the index's id type, and an integer into text
        for an index of text ids (built before integer ids stayed integers); `DataError` for an id
        beyond the id type (`simsearch.validation.parse_id`)."""
        if isinstance(value, np.generic):
            value = value.item()
        kind = self.index.id_kind
        if kind == "int" and not len(self.index):
            return check_id(value)
        return parse_id(value, kind)


def build_index(
    model_dir: str | os.PathLike[str],
    catalog: Items,
    index_dir: str | os.PathLike[str],
    *,
    factory: str | None = None,
    batch_size: int = 256,
    seed: int = 0,
    budget: Budget | None = None,
) -> SearchEngine:
    """Encode `catalog` with the model in `model_dir` and write the index directory.

    The metric is the model's (cosine for L2-normalised towers). Without `factory`, exact search
    (`Flat`) below 100k items and an approximate kind above; with `budget`, the kind and query
    settings that reach its recall target within its memory (`simsearch.index.budget`). The
    choice is in the manifest.
    """
    from simsearch.models.siamese import SiameseModel

    if len(catalog) == 0:
        raise DataError("Expected a non-empty catalogue. Received: 0 items")
    model = SiameseModel.load(model_dir)
    vectors = encode_batches(model, catalog.content(), len(catalog), batch_size)
    config = IndexConfig(metric=model.metric, factory=factory, seed=seed)
    index = _build(config, vectors, catalog.ids, item_metadata(catalog), budget)
    engine = SearchEngine(index, model, model_dir=model_dir)
    save_index(index_dir, index, manifest_extra(model, Path(model_dir)))
    check_saved_index(index_dir, index, vectors[:8])
    engine.path = Path(index_dir)
    return engine


def build_vector_index(
    vectors: npt.ArrayLike,
    ids: Sequence[Any] | npt.ArrayLike,
    index_dir: str | os.PathLike[str],
    *,
    metadata: Sequence[Any] | None = None,
    metric: str = "cosine",
    factory: str | None = None,
    seed: int = 0,
    budget: Budget | None = None,
) -> SearchEngine:
    """Index the caller's own `(n, d)` vectors under `ids` and write the index directory, with
    no model: it is searched and updated by vectors and ids (`SearchEngine.search(vectors=...)`,
    `add_vectors`). Loads no TensorFlow.

    Example:
    >>> engine = build_vector_index(xb, ids, "indexes/own", metric="l2", budget=Budget(0.95))
    >>> engine.search(vectors=xq, k=5)
    """
    index = _build(IndexConfig(metric=metric, factory=factory, seed=seed), vectors, ids, metadata, budget)
    save_index(index_dir, index, dict(VECTORS_EXTRA))
    check_saved_index(index_dir, index, index.get(index.ids[:8]))
    return SearchEngine(index, path=index_dir)


def _build(
    config: IndexConfig, xb: npt.ArrayLike, ids: Any, metadata: Sequence[Any] | None, budget: Budget | None
) -> FaissIndex:
    if budget is None:
        return FaissIndex(config).build(xb, ids, metadata)
    index, choice = build_for_budget(xb, ids, metadata, config=config, budget=budget)
    logger.info("Chose %s", choice.summary())
    return index


def check_saved_index(path: str | os.PathLike[str], index: FaissIndex, xq: npt.NDArray[np.float32]) -> None:
    """Load the index directory at `path` back and check it finds for the queries `xq` the
    neighbours (ids and distances) that the `index` it was saved from finds; else
    `IndexFileError`."""
    k = min(5, len(index))
    expected, got = index.search(xq, k), load_index(path).search(xq, k)
    same_ids = np.array_equal(np.asarray(got.ids), np.asarray(expected.ids))
    if not same_ids or not np.allclose(got.distances, expected.distances, rtol=1e-4, atol=1e-5):
        raise IndexFileError(
            f"Expected the saved index in '{path}' to find the neighbours of {len(xq)} items that the "
            f"built one finds. Received: {'other ids' if not same_ids else 'other distances'}; "
            "rebuild it"
        )


def encode_batches(model: Any, content: Any, n: int, batch_size: int) -> npt.NDArray[np.float32]:
    """Encode `content` in chunks with a progress bar; `(n, dim) float32`."""
    from tqdm.auto import tqdm

    chunk = max(batch_size * 16, 1)
    parts = []
    with tqdm(total=n, desc="encoding", unit="item", disable=n <= chunk) as bar:
        for start in range(0, n, chunk):
            part = _slice(content, start, start + chunk)
            parts.append(model.encode(part, batch_size=batch_size))
            bar.update(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, model.dim), np.float32)


def item_metadata(catalog: Items) -> list[dict[str, Any]]:
    """Per item, what a search result shows: its class (when labelled), its text and numeric
    fields (NaN as null) and the table's other columns (`Items.metadata`; left out where empty)."""
    rows: list[dict[str, Any]] = [{} for _ in range(len(catalog))]
    if len(catalog.classes):
        for row, label in zip(rows, catalog.labels.tolist(), strict=True):
            if label >= 0:
                row["label"] = catalog.classes[label]
    for name, column in catalog.fields.items():
        for row, value in zip(rows, column.tolist(), strict=True):
            row[name] = None if isinstance(value, float) and math.isnan(value) else value
    for name, column in catalog.metadata.items():
        for row, value in zip(rows, column.tolist(), strict=True):
            if value is not None and value != "":
                row[name] = value
    return rows


def _check_vectors(xq: np.ndarray, dim: int) -> None:
    """The shape; the index checks the values (finite) as it normalises them."""
    if xq.ndim != 2 or xq.shape[1] != dim:
        raise DataError(f"Expected query vectors of shape (n, {dim}). Received: shape={xq.shape}")


def _slice(content: Any, start: int, stop: int) -> Any:
    if isinstance(content, dict):
        return {name: column[start:stop] for name, column in content.items()}
    return content[start:stop]
