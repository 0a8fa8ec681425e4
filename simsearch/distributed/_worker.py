"""`WorkerCache`: the models and indexes a Dask worker keeps between tasks (imports Dask)."""

from __future__ import annotations

import collections
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

__all__ = ["LoadedIndex", "WorkerCache"]

logger = logging.getLogger(__name__)

# One load at a time in a process: workers that are threads of one process (processes=False)
# would otherwise build Keras models side by side.
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedIndex:
    """An index directory as a worker holds it: the index, its catalogue ids and their positions."""

    index: Any  # FaissIndex
    catalogue: Any  # (n,) ids, `index.ids`
    lookup: Any  # simsearch.dedup.checks.IdLookup over `catalogue`


class WorkerCache(WorkerPlugin):
    """Per-worker models and indexes, each loaded on first use and kept for the next tasks.

    They are keyed by path and by the modification times of their files, so a model or index
    rewritten between two jobs on a long-lived cluster is loaded afresh. `loads` counts the loads
    by kind and path: a test reads it to check that a tower is loaded once per worker, not once per
    task.
    """

    def setup(self, worker: Any) -> None:
        import faiss

        self.models: dict[tuple[str, tuple[int, ...]], Any] = {}
        self.indexes: dict[tuple[str, tuple[int, ...]], LoadedIndex] = {}
        self.loads: collections.Counter[tuple[str, str]] = collections.Counter()
        # One FAISS thread per task thread: workers share the machine's cores.
        faiss.omp_set_num_threads(max(1, int(worker.state.nthreads)))

    def model(self, model_dir: str | os.PathLike[str]) -> Any:
        """Return the `SiameseModel` in `model_dir`, loading it on the first call."""
        key = _stamped(model_dir, ("tower.keras", "head.keras", "config.json"))
        with _LOAD_LOCK:
            if key not in self.models:
                from simsearch.models.siamese import SiameseModel

                _forget(self.models, key[0])
                self.models[key] = SiameseModel.load(model_dir)
                self.loads["model", key[0]] += 1
                logger.info("Worker loaded model %s", key[0])
            return self.models[key]

    def index(self, index_dir: str | os.PathLike[str]) -> LoadedIndex:
        """Return the index in `index_dir` with its catalogue lookup, loading it on the first call.

        The driver verified the directory's checksums when it opened it; workers skip that pass.
        """
        key = _stamped(index_dir, ("manifest.json", "journal.wal"))
        with _LOAD_LOCK:
            if key not in self.indexes:
                from simsearch.dedup.checks import IdLookup
                from simsearch.index import load_index

                _forget(self.indexes, key[0])
                index = load_index(index_dir, verify=False)
                catalogue = index.ids
                self.indexes[key] = LoadedIndex(index, catalogue, IdLookup(catalogue, "index"))
                self.loads["index", key[0]] += 1
                logger.info("Worker loaded index %s (%d items)", key[0], len(index))
            return self.indexes[key]


def _stamped(root: str | os.PathLike[str], names: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
    """The cache key of a directory: its resolved path and its files' mtimes (-1 when missing)."""
    path = Path(root).resolve()
    stamps = []
    for name in names:
        try:
            stamps.append((path / name).stat().st_mtime_ns)
        except FileNotFoundError:
            stamps.append(-1)
    return str(path), tuple(stamps)


def _forget(cache: dict[tuple[str, Any], Any], path: str) -> None:
    """Drop the older versions of a directory (a rewritten model or index) from `cache`."""
    for key in [key for key in cache if key[0] == path]:
        del cache[key]
