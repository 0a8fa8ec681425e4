"""Connecting to Dask, and what each worker keeps between tasks.

Dask is optional (`pip install "simsearch[dask]"`): this module imports it only inside functions,
so `simsearch.distributed` imports without it and `require_dask` names the extra when it is missing.

Every task that needs a model or an index asks the worker's `WorkerCache` for it by path: the
first task on a worker loads it, the next ones reuse it, so a tower is loaded once per worker,
not once per task. Paths must therefore be readable from every worker (the same machine for a
`LocalCluster`; a shared filesystem for a real cluster).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from simsearch.errors import ConfigError

__all__ = ["CACHE_PLUGIN", "connect", "require_dask", "worker_cache"]

logger = logging.getLogger(__name__)

CACHE_PLUGIN = "simsearch-cache"


def require_dask() -> Any:
    """Return the `distributed` module, or `ConfigError` naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f'Expected Dask for --engine dask: pip install "simsearch[dask]". Received: {exc.msg}'
        ) from exc
    return distributed


@contextlib.contextmanager
def connect(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
    memory_limit: str | None = None,
) -> Iterator[Any]:
    """Yield a `distributed.Client` with the worker cache registered on every worker.

    Args:
        scheduler: address of a running scheduler (`tcp://host:8786`); None starts a
            `LocalCluster` for the duration of the block.
        workers: workers of the local cluster (default: one per core, Dask's choice).
        threads_per_worker: threads per local worker; FAISS gets as many.
        processes: local workers as processes (True) or threads of this process (False: quick to
            start, what the tests use).
        memory_limit: per local worker, e.g. `"4GB"`; Dask's default shares the machine's memory.

    Example:
    >>> with connect(workers=2) as client:
    ...     index = build_index_dask(client, "models/products", "catalogue.csv", "indexes/products")
    """
    distributed = require_dask()
    from simsearch.distributed._worker import WorkerCache

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            options: dict[str, Any] = {
                "n_workers": workers,
                "threads_per_worker": threads_per_worker,
                "processes": processes,
                "dashboard_address": ":0",  # any free port: never collide with another cluster
            }
            if memory_limit is not None:
                options["memory_limit"] = memory_limit
            cluster = stack.enter_context(distributed.LocalCluster(**options))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(distributed.Client(scheduler))
        client.register_plugin(WorkerCache(), name=CACHE_PLUGIN)
        logger.info("Dask: %d workers (%s)", len(client.nthreads()), scheduler or "local")
        yield client


def worker_cache() -> Any:
    """Return the current worker's `WorkerCache` (call it inside a task)."""
    from distributed import get_worker

    return get_worker().plugins[CACHE_PLUGIN]
