"""MicroBatcher and RWLock, in-process: results and errors reach their own callers, concurrent
submissions share batches, readers share the lock and writers have it alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from simsearch.server.batcher import MicroBatcher, by_key
from simsearch.server.locks import RWLock


def test_each_caller_gets_its_own_result_or_error() -> None:
    def run(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {x}") if x < 0 else 2 * x for x in items]

    batcher = MicroBatcher(run, max_batch=8)
    try:
        assert batcher.submit(21).result(timeout=5) == 42
        with pytest.raises(ValueError, match="bad -1"):
            batcher.submit(-1).result(timeout=5)
    finally:
        batcher.close()


def test_a_failing_batch_fails_its_callers_and_the_worker_lives_on() -> None:
    def run(items: list[int]) -> list[int]:
        if 0 in items:
            raise RuntimeError("boom")
        return items

    batcher = MicroBatcher(run)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.submit(0).result(timeout=5)
        assert batcher.submit(3).result(timeout=5) == 3
    finally:
        batcher.close()


def test_concurrent_submissions_share_batches() -> None:
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        time.sleep(0.01)
        return items

    batcher = MicroBatcher(run, max_batch=16, window_s=0.005)
    try:
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda x: batcher.submit(x).result(timeout=10), range(200)))
    finally:
        batcher.close()
    assert results == list(range(200))
    assert sum(sizes) == 200 and max(sizes) > 1 and max(sizes) <= 16


def test_by_key_runs_equal_keys_together_and_each_result_in_its_place() -> None:
    calls: list[tuple[str, list[int]]] = []

    def run(key: str, items: list[int]) -> list[str | BaseException]:
        calls.append((key, items))
        return [ValueError(f"bad {x}") if x < 0 else f"{key}{x}" for x in items]

    batch = [("a", 1), ("b", 2), ("a", 3), ("c", -4), ("b", 5), ("a", 6)]
    results = by_key(run)(batch)
    assert sorted(calls) == [("a", [1, 3, 6]), ("b", [2, 5]), ("c", [-4])]  # one call per key
    assert [str(r) for r in results] == ["a1", "b2", "a3", "bad -4", "b5", "a6"]
    assert isinstance(results[3], ValueError)


def test_concurrent_equal_queries_share_batches() -> None:
    from simsearch.search import Query

    seen: list[tuple[Query, int]] = []

    def run(query: Query, items: list[int]) -> list[int]:
        seen.append((query, len(items)))
        time.sleep(0.01)
        return [query.k * x for x in items]

    queries = [Query(k=1), Query(k=2), Query(k=1, rerank=3)]
    batcher = MicroBatcher(by_key(run), max_batch=32, window_s=0.005)
    try:
        with ThreadPoolExecutor(24) as pool:
            jobs = [(queries[i % 3], i) for i in range(120)]
            results = list(pool.map(lambda job: batcher.submit(job).result(timeout=10), jobs))
    finally:
        batcher.close()
    assert results == [q.k * i for q, i in jobs]
    assert sum(n for _, n in seen) == 120 and max(n for _, n in seen) > 1
    assert {q for q, _ in seen} == set(queries)


def test_readers_share_and_writers_exclude() -> None:
    lock = RWLock()
    inside: list[str] = []
    overlap = threading.Event()
    violations: list[list[str]] = []

    def read() -> None:
        with lock.read():
            inside.append("r")
            if inside.count("r") > 1:
                overlap.set()
            if "w" in inside:
                violations.append(list(inside))
            time.sleep(0.01)
            inside.remove("r")

    def write() -> None:
        with lock.write():
            inside.append("w")
            if len(inside) > 1:
                violations.append(list(inside))
            time.sleep(0.005)
            inside.remove("w")

    threads = [threading.Thread(target=read if i % 4 else write) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert violations == [] and overlap.is_set()
