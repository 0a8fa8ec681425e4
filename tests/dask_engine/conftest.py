"""Fixtures of the Dask engine tests (`simsearch.distributed`): one LocalCluster of 2 workers
(threads of this process, quick to start) for the whole session, joined by a client as
`--scheduler ADDRESS` joins one.

The folder is `dask_engine`, not `distributed`: a test package named `distributed` would shadow
Dask's own on `sys.path`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("distributed", reason='the Dask engine needs "simsearch[dask]"')


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="session")
def client(cluster: Any) -> Iterator[Any]:
    from simsearch.distributed import connect

    with connect(cluster.scheduler_address) as dask_client:
        yield dask_client


def loads(client: Any) -> dict[str, dict[tuple[str, str], int]]:
    """Per worker, how many times its cache loaded each model and index."""

    def read(dask_worker: Any) -> dict[tuple[str, str], int]:
        return dict(dask_worker.plugins["simsearch-cache"].loads)

    return client.run(read)  # type: ignore[no-any-return]
