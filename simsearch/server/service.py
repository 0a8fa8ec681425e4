"""`IndexService`: one loaded `SearchEngine` shared by concurrent requests, with durable writes.

Concurrency: searches hold an `RWLock` shared and run side by side (FAISS searches are
thread-safe); a write holds it alone only while the index changes in memory. Writes are
serialised by a mutex, so the journal's order is the order they were applied in. With writes,
the service holds the index directory's `WriterLock` from `start` to `close`: no other process
writes the directory meanwhile (`simsearch add` waits, a second server refuses to start).

A write is applied in memory first (the index validates it before changing anything, so a bad
write changes nothing and is never journaled), then appended to the index directory's journal
and synced, then acknowledged: an acknowledged write survives `kill -9`. Readers may see a write
a few milliseconds before it is acknowledged. When the journal passes `checkpoint_bytes` (and on
shutdown), the index is saved: a new directory without journal replaces the old one atomically
while searches go on; writes wait for it. A journal that cannot be written puts the service in a
failed state: it refuses writes and reports not ready, since memory may then hold a write the
disk does not.

With `batching`, concurrent searches (by vector, and by item after encoding; those of equal
`Query`s together), encodings and writes each go through a `MicroBatcher`: one FAISS call, one
tower call, one sync per batch. Searches re-ranked by the cross-encoder are not batched: the
cross-encoder's forward passes run in their requests' threads, side by side.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from simsearch.engine import SearchEngine
from simsearch.errors import ConfigError, DataError, IndexFileError
from simsearch.index import (
    Journal,
    JournalRecord,
    WriterLock,
    apply_record,
    read_manifest,
    recover_index,
)
from simsearch.search.hits import Hit
from simsearch.search.query import Query
from simsearch.server.batcher import MicroBatcher, by_key
from simsearch.server.config import ServerConfig
from simsearch.server.locks import RWLock

__all__ = ["DIRECT_BUDGET_S", "IndexService"]

logger = logging.getLogger(__name__)

# A search by vectors expected to take at most this long runs on the event loop, in the request's
# own turn: no hand-off to a thread, no batcher. Longer ones go to a worker thread.
DIRECT_BUDGET_S = 0.002

T = TypeVar("T")
R = TypeVar("R")


class IndexService:
    """Search, read and update one index directory from many threads.

    Args:
        engine: the loaded index and model; its `path` is where checkpoints are written.
        config: access, limits, batching and checkpoint settings.

    Example:
    >>> service = IndexService(SearchEngine.load("indexes/catalogue"), ServerConfig()).start()
    >>> service.search(Query(k=5), vectors=xq)
    >>> service.close()   # checkpoint, release the journal
    """

    def __init__(self, engine: SearchEngine, config: ServerConfig) -> None:
        self.engine = engine
        self.config = config
        self.lock = RWLock()
        self.searcher = engine.searcher.with_lock(self.lock.read)  # reads the index under the lock
        self.journal: Journal | None = None
        self.failure: str | None = None
        self._write_mutex = threading.Lock()
        self._batchers: dict[str, MicroBatcher[Any, Any]] = {}
        self._row_cost: dict[Query, float] = {}  # seconds per query row of a search by vectors
        self._model_info: dict[str, Any] = {}
        self._started = False
        self._writer: WriterLock | None = None

    # ---- life cycle ---------------------------------------------------------------------------

    def start(self) -> IndexService:
        """Take the index's writer lock and open its journal (when writes are enabled), and start
        the batchers. Returns `self`.

        Raises:
            BusyError: another process writes the index (take the lock before loading the engine,
                as `simsearch serve` does, so that none can between the load and this).
        """
        path = self._path()
        if self.config.writes != "disabled":
            self._writer = WriterLock(path, wait=False).acquire()
            try:
                recover_index(path)  # a save killed between its renames: put the index back
                self.journal = Journal.open(path)
            except BaseException:
                self._writer.release()
                raise
        self._model_info = self._describe_model(path)
        if self.config.batching:
            self._start_batchers()
        self._started = True
        return self

    def close(self) -> None:
        """Finish queued work, checkpoint what the journal holds, release the journal."""
        self._started = False
        for batcher in self._batchers.values():
            batcher.close()
        self._batchers = {}
        with self._write_mutex:
            if self.journal is not None and self.journal.records and self.failure is None:
                self._checkpoint()
            if self.journal is not None:
                self.journal.close()
            if self._writer is not None:
                self._writer.release()

    @property
    def ready(self) -> bool:
        """Started, and no journal failure."""
        return self._started and self.failure is None

    # ---- reads ----------------------------------------------------------------------------------

    def encode(self, content: Any) -> npt.NDArray[np.float32]:
        """Encode decoded items (see `simsearch.server.items`) with the model's tower."""
        self.engine.model.prepare(content)  # a bad item fails its own request, never a batch
        batcher = self._batchers.get("encode")
        if batcher is not None:
            return batcher.submit(content).result()
        return self._encode(content)

    def search(
        self,
        query: Query,
        *,
        vectors: Any = None,
        ids: Sequence[Any] | None = None,
        items: Any = None,
    ) -> list[list[Hit]]:
        """Search with vectors or catalogue ids (`Searcher.run`); at most `max_k` hits a query.

        A query re-ranked by the cross-encoder (`reranker="cross"`) reads the query texts from
        `items` (the decoded raw items the `vectors` were encoded from) or the ids' stored
        metadata.
        """
        self._check_query(query)
        if ids is not None:
            return self._clip(self.searcher.run(query, ids=self.coerce_ids(ids)))
        xq = self._vectors(vectors, "vectors")
        batcher = self._batchers.get("search")
        if batcher is not None and query.radius is None and query.mode != "cross":
            return batcher.submit((query, xq)).result()
        if items is None and query.mode == "none":
            return self._search_vectors(query, xq)
        return self._clip(self.searcher.run(query, vectors=xq, items=items))

    def search_now(self, query: Query, vectors: Any) -> list[list[Hit]] | None:
        """The hits of a search by vectors run at once in the caller's thread, or None when it
        should not be: it is re-ranked, its cost is not known yet or over `DIRECT_BUDGET_S`, or a
        write holds or waits for the index (the caller, the event loop, never waits for one).

        The caller then runs `search` in a worker thread. Raises `DataError` for bad input,
        though not always `search`'s (the values are checked by the index): a caller that answers
        users runs `search` on any error, for its message.
        """
        if query.mode != "none" or query.radius is not None:
            return None
        cost = self._row_cost.get(query)
        if cost is None or cost * len(vectors) > DIRECT_BUDGET_S:
            return None
        self._check_query(query)
        with np.errstate(over="ignore"):  # beyond float32: inf, which the index refuses
            xq = np.asarray(vectors, dtype=np.float32)
        dim = self.engine.index.dim
        if xq.ndim != 2 or xq.shape[1] != dim:  # the values: checked by the index
            raise DataError(f"Expected vectors of shape (n, {dim}). Received: shape={xq.shape}")
        if not self.lock.acquire_read(blocking=False):
            return None
        try:
            start = time.perf_counter()
            rows = self.engine.searcher.run(query, vectors=xq)
        finally:
            self.lock.release_read()
        self._learn_cost(query, len(xq), time.perf_counter() - start)
        return self._clip(rows)

    def coerce_ids(self, ids: Sequence[Any]) -> list[Any]:
        """Ids as the index holds them: text such as `"17"` becomes an int in an int-id index."""
        return [self.engine.coerce_id(i) for i in ids]

    def get(self, ids: Sequence[Any]) -> tuple[npt.NDArray[np.float32], list[Any]]:
        """Return the stored `(n, dim)` embeddings and metadata of items; `UnknownIdError` for
        ids not in the index."""
        ids = self.coerce_ids(ids)
        with self.lock.read():
            return self.engine.index.get(ids), self.engine.index.metadata(ids)

    def stats(self) -> dict[str, Any]:
        """Item count, index kind, dim, metric, model, journal and limits."""
        index = self.engine.index
        with self.lock.read():
            described = {"count": len(index), "tombstones": index.n_tombstones, "kind": index.kind}
        journal = self.journal
        return {
            **described,
            "factory": index.factory_,
            "dim": index.dim,
            "metric": index.metric,
            "model": self._model_info,
            "search_params": dataclasses.asdict(index.search_defaults),
            "tuning": index.tuning,
            "rerank_default": self.engine.rerank_default,
            "reranker": None if self.engine.reranker is None else self.engine.reranker.config.get("encoder"),
            "journal": None if journal is None else {"records": journal.records, "bytes": journal.size},
            "writes": self.config.writes,
            "batching": self.config.batching,
            "limits": {
                "max_k": self.config.max_k,
                "max_batch": self.config.max_batch,
                "max_body_bytes": self.config.max_body_bytes,
            },
        }

    # ---- writes ---------------------------------------------------------------------------------

    def add(
        self,
        ids: Sequence[Any],
        vectors: Any,
        metadata: Sequence[Any] | None = None,
        *,
        upsert: bool = False,
    ) -> int:
        """Add (or upsert) items by their embeddings; returns the item count once durable."""
        xb = self._vectors(vectors, "vectors", check_norm=False)
        ids = self.coerce_ids(ids)
        return self.write(JournalRecord("upsert" if upsert else "add", ids, xb, metadata))

    def delete(self, ids: Sequence[Any]) -> int:
        """Delete items by id (all or none); returns the item count once durable."""
        return self.write(JournalRecord("delete", self.coerce_ids(ids)))

    def write(self, record: JournalRecord) -> int:
        """Apply one update, sync it to the journal, and return the item count after it."""
        self._check_writable()
        record.frame  # noqa: B018  (JSON-serialisable: checked before anything changes)
        batcher = self._batchers.get("write")
        result = batcher.submit(record).result() if batcher is not None else self._commit([record])[0]
        if isinstance(result, BaseException):
            raise result
        return int(result)

    def checkpoint(self) -> dict[str, Any]:
        """Save the index now (an empty journal follows); returns the saved directory."""
        self._check_writable()
        with self._write_mutex:
            self._checkpoint()
            count = len(self.engine.index)
        return {"path": str(self._path()), "count": count}

    # ---- internals ------------------------------------------------------------------------------

    def _start_batchers(self) -> None:
        window = self.config.batch_window_ms / 1000.0
        self._batchers = {
            "encode": MicroBatcher(self._encode_batch, max_batch=64, window_s=window, name="encode"),
            "search": MicroBatcher(by_key(self._search_group), max_batch=64, window_s=window, name="search"),
        }
        if self.journal is not None:
            self._batchers["write"] = MicroBatcher(self._commit, max_batch=64, window_s=window, name="write")

    def _encode(self, content: Any) -> npt.NDArray[np.float32]:
        return self.engine.model.encode(content, batch_size=4096)

    def _encode_batch(self, contents: list[Any]) -> list[Any]:
        sizes = [len(c) for c in contents]
        if isinstance(contents[0], np.ndarray):
            joined: Any = np.concatenate(contents)
        else:
            joined = [item for content in contents for item in content]
        try:
            vectors = self._encode(joined)
        except Exception:
            return _each(self._encode, contents)
        return np.split(vectors, np.cumsum(sizes)[:-1])

    def _search_group(self, query: Query, parts: list[npt.NDArray[np.float32]]) -> list[Any]:
        """One search for the vector queries of several requests with an equal `query`."""
        try:
            rows = self._search_vectors(query, np.concatenate(parts))
        except Exception:
            return _each(functools.partial(self._search_vectors, query), parts)
        bounds = np.cumsum([0] + [len(p) for p in parts])
        return [rows[bounds[j] : bounds[j + 1]] for j in range(len(parts))]

    def _search_vectors(self, query: Query, xq: npt.NDArray[np.float32]) -> list[list[Hit]]:
        start = time.perf_counter()
        rows = self.searcher.run(query, vectors=xq)
        if query.mode == "none" and query.radius is None:
            self._learn_cost(query, len(xq), time.perf_counter() - start)
        return self._clip(rows)

    def _learn_cost(self, query: Query, n: int, seconds: float) -> None:
        """Keep the least time a query row of `query` has taken, for `search_now`.

        The least seen: on a busy machine a search also waits for a core, which says nothing of
        its own work. (Wall time: the thread's CPU clock is a system call, ~1 ms on some VMs.)"""
        if n:
            if len(self._row_cost) >= 1024:  # as make_query's cache: settings vary little
                self._row_cost.clear()
            per_row = seconds / n
            known = self._row_cost.get(query)
            self._row_cost[query] = per_row if known is None else min(known, per_row)

    def _clip(self, rows: list[list[Hit]]) -> list[list[Hit]]:
        """At most `max_k` hits a query (a range search may find more)."""
        return [row[: self.config.max_k] for row in rows]

    def _commit(self, records: list[JournalRecord]) -> list[int | BaseException]:
        """Apply `records` in order, journal those that applied in one sync, maybe checkpoint."""
        with self._write_mutex:
            if self.failure is not None or self.journal is None:
                return [self._unavailable()] * len(records)
            results, applied = self._apply(records)
            if applied:
                self._append(applied, results)
            if self.failure is None and self.journal.size >= self.config.checkpoint_bytes:
                self._try_checkpoint()
        return results

    def _apply(self, records: list[JournalRecord]) -> tuple[list[int | BaseException], list[JournalRecord]]:
        results: list[int | BaseException] = []
        applied = []
        index = self.engine.index
        with self.lock.write():
            for record in records:
                try:
                    apply_record(index, record)
                except Exception as exc:  # the caller's error, raised in its own request
                    results.append(exc)
                    continue
                applied.append(record)
                results.append(len(index))
        return results, applied

    def _append(self, applied: list[JournalRecord], results: list[int | BaseException]) -> None:
        assert self.journal is not None
        try:
            self.journal.append(applied)
        except (OSError, IndexFileError) as exc:
            self.failure = f"the journal could not be written: {exc}"
            logger.error("Refusing writes from now on: %s", self.failure)
            error = self._unavailable()
            results[:] = [r if isinstance(r, BaseException) else error for r in results]

    def _try_checkpoint(self) -> None:
        try:
            self._checkpoint()
        except Exception:  # the writes are safe in the journal; the next one tries again
            logger.exception("Checkpoint of %s failed; the journal keeps the writes", self._path())

    def _checkpoint(self) -> None:
        """Save the index and start an empty journal; the caller holds the write mutex."""
        path = self._path()
        if self.journal is not None:
            self.journal.close()
        try:
            with self.lock.read():
                self.engine.save()
        finally:
            if self.config.writes != "disabled":
                self._reopen(path)
        logger.info("Checkpoint: saved %d items to %s", len(self.engine.index), path)

    def _reopen(self, path: Path) -> None:
        try:
            self.journal = Journal.open(path)
        except (OSError, IndexFileError) as exc:
            self.failure = f"the journal could not be reopened: {exc}"
            logger.error("Refusing writes from now on: %s", self.failure)
            raise

    def _check_writable(self) -> None:
        if self.journal is None and self.failure is None:
            raise ConfigError("Expected a server that accepts writes. Received: writes are disabled")
        if self.failure is not None:
            raise self._unavailable()

    def _unavailable(self) -> IndexFileError:
        return IndexFileError(f"Expected a writable index. Received: {self.failure or 'no journal'}")

    def _check_query(self, query: Query) -> None:
        limit = self.config.max_k
        if query.k > limit or query.rerank > limit:
            raise DataError(
                f"Expected k and rerank <= {limit} (the server's max_k). Received: k={query.k}, "
                f"rerank={query.rerank}"
            )

    def _vectors(self, rows: Any, name: str, check_norm: bool = True) -> npt.NDArray[np.float32]:
        """Return `rows` as `(n, dim) float32`, finite and (for cosine searches) non-zero."""
        dim, metric = self.engine.index.dim, self.engine.index.metric
        try:
            with np.errstate(over="ignore"):
                xq = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise DataError(f"Expected {name} as rows of {dim} numbers. Received: {exc}") from exc
        if xq.ndim != 2 or xq.shape[1] != dim:
            raise DataError(f"Expected {name} of shape (n, {dim}). Received: shape={xq.shape}")
        if not np.isfinite(xq).all():
            raise DataError(f"Expected finite {name} (float32). Received: NaN, inf or a value beyond float32")
        if (
            check_norm
            and metric == "cosine"
            and not (np.linalg.norm(xq.astype(np.float64), axis=1) > 0).all()
        ):
            raise DataError(f"Expected non-zero {name} for metric='cosine'. Received: a zero vector")
        return xq

    def _path(self) -> Path:
        if self.engine.path is None:
            raise ConfigError("Expected an engine loaded from an index directory. Received: no path")
        return self.engine.path

    def _describe_model(self, path: Path) -> dict[str, Any]:
        if not self.engine.has_model:  # the user's own vectors
            return {}
        recorded = read_manifest(path).get("extra", {}).get("model", {})
        config = self.engine.model.config
        return {
            "kind": self.engine.model.kind,
            "dim": self.engine.model.dim,
            "metric": self.engine.model.metric,
            "sha256": recorded.get("sha256"),
            "path": recorded.get("path"),
            "format_version": config.get("format_version"),
            "simsearch_version": config.get("simsearch_version"),
            "threshold": self.engine.model.threshold,
        }


def _each(run: Callable[[T], R], items: Sequence[T]) -> list[R | BaseException]:
    """Run items one by one, so one bad item fails alone."""
    results: list[R | BaseException] = []
    for item in items:
        try:
            results.append(run(item))
        except Exception as exc:
            results.append(exc)
    return results
