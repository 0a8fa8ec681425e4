"""`MicroBatcher`: run concurrent requests' work as one call.

A FAISS search of 16 queries costs little more than one (one pass over the vectors, BLAS), and a
tower call has a fixed overhead per call; a server answering requests one by one pays those costs
per request. Requests hand their work to a batcher, whose one worker thread takes everything
queued (after an optional short window) and runs it in one call. When nothing is running or
queued, the caller runs its own item at once instead, so under light load a request pays no hand-
off between threads; under heavy load batches grow by themselves. A fsync shared by several
writes (group commit) is the same pattern. Work that runs together only when it asks the same
(searches with equal `Query`s) is submitted as `(key, item)` to a `by_key` batch function.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["MicroBatcher", "by_key"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)


class MicroBatcher(Generic[T, R]):
    """Collect submitted items and run them in batches on one worker thread.

    Args:
        run: `run(items) -> results`, one result per item, in order; a result that is an
            exception is raised to that item's caller only. An exception raised by `run` itself
            goes to every caller of the batch.
        max_batch: the most items per call.
        window_s: how long the worker waits for more items after the first (0: take what is
            queued, wait for nothing).
        name: the worker thread's name.

    Example:
    >>> batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch=64)
    >>> batcher.submit(21).result()
    42
    """

    def __init__(
        self,
        run: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        max_batch: int = 64,
        window_s: float = 0.0,
        name: str = "batcher",
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._closed = False
        self._running = threading.Lock()  # held while a batch runs, on the worker or inline
        self._count = threading.Lock()
        self._queued = 0  # items submitted to the worker and not yet run
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> Future[R]:
        """Queue `item`; the future gets its result once its batch has run."""
        if self._closed:
            raise RuntimeError("Expected an open batcher. Received: submit after close")
        future: Future[R] = Future()
        if self._queued == 0 and self._running.acquire(blocking=False):
            try:  # idle: run it here, no hand-off
                self._run([(item, future)])
            finally:
                self._running.release()
            return future
        with self._count:
            self._queued += 1
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Run what is queued, then stop the worker."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            with self._running:
                batch, stop = self._collect(first)
                self._run(batch)
            with self._count:
                self._queued -= len(batch)
            if stop:
                return

    def _collect(self, first: tuple[T, Future[R]]) -> tuple[list[tuple[T, Future[R]]], bool]:
        batch = [first]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            timeout = deadline - time.monotonic()
            try:
                entry = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is None:
                return batch, True
            batch.append(entry)
        return batch, False

    def _run(self, batch: list[tuple[T, Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = list(self.run(items))
            if len(results) != len(items):
                raise RuntimeError(f"Expected {len(items)} results. Received: {len(results)}")
        except BaseException as exc:  # the callers get it; the worker lives on
            logger.debug("Batch of %d failed: %r", len(items), exc)
            results = [exc] * len(items)
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def by_key(
    run: Callable[[K, list[T]], Sequence[R | BaseException]],
) -> Callable[[list[tuple[K, T]]], list[R | BaseException]]:
    """A `MicroBatcher` `run` over `(key, item)` entries that runs the items of equal keys
    together, one `run(key, items)` per distinct key, and puts each result back in its place.

    Example:
    >>> batcher = MicroBatcher(by_key(lambda k, xs: [k * x for x in xs]))
    >>> batcher.submit((3, 14)).result()
    42
    """

    def run_groups(entries: list[tuple[K, T]]) -> list[R | BaseException]:
        groups: dict[K, list[int]] = {}
        for i, (key, _) in enumerate(entries):
            groups.setdefault(key, []).append(i)
        results: list[Any] = [None] * len(entries)
        for key, members in groups.items():
            found = run(key, [entries[i][1] for i in members])
            for i, result in zip(members, found, strict=True):
                results[i] = result
        return results

    return run_groups
