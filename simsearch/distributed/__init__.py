"""The Dask engine: encoding, index building, dedup and match spread over a cluster.

`--engine dask` on `simsearch build-index`, `dedup` and `match` runs the same jobs as the local
engine on a `distributed.Client`: a `LocalCluster` started for the job, or a running cluster
(`--scheduler tcp://host:8786`). The results are the local engine's (same ids, same neighbours,
same pairs; the tests compare both). Dask is optional (`pip install "simsearch[dask]"`): nothing
here imports it until a client is made, and `require_dask` names the extra when it is missing.

    cluster    connect (a Client with the worker cache), require_dask, worker_cache
    catalog    plan_partitions / read_partition: CSV and JSONL byte ranges, Parquet row groups,
               image folders, read into `Items`
    encode     encode_catalog: one task per partition, the tower loaded once per worker
    build      build_from_parts (train on a sample on the driver, broadcast the empty trained
               index, add per partition, merge), build_index_dask (encode + build + save)
    join       JoinSpec (a dedup `PairFilter`, the model, the block size), WorkerHeadScorer (the
               head re-scoring on the workers), find_duplicates_dask (query blocks, merged per
               output part), match_catalog_dask
    parts      the partitioned Parquet output (a directory of part-NNNNN.parquet files)

Paths (catalogue, model, index, output) must be readable and writable by every worker: the same
machine for a LocalCluster, a shared filesystem for a real cluster.

Example:
>>> from simsearch.dedup import PairFilter
>>> from simsearch.distributed import JoinSpec, build_index_dask, connect, find_duplicates_dask
>>> with connect(workers=4) as client:
...     index = build_index_dask(client, "models/products", "catalogue.parquet", "indexes/products")
...     spec = JoinSpec(PairFilter(k=10, max_distance=0.1))
...     pairs = find_duplicates_dask(client, "indexes/products", index.ids, spec, "pairs.parquet")
"""

from __future__ import annotations

from simsearch.distributed.build import build_from_parts, build_index_dask, mergeable
from simsearch.distributed.catalog import CatalogSpec, Partition, plan_partitions, read_partition
from simsearch.distributed.cluster import connect, require_dask, worker_cache
from simsearch.distributed.encode import EncodedPart, catalog_spec, encode_catalog
from simsearch.distributed.join import JoinSpec, WorkerHeadScorer, find_duplicates_dask, match_catalog_dask

__all__ = [
    "CatalogSpec",
    "EncodedPart",
    "JoinSpec",
    "Partition",
    "WorkerHeadScorer",
    "build_from_parts",
    "build_index_dask",
    "catalog_spec",
    "connect",
    "encode_catalog",
    "find_duplicates_dask",
    "match_catalog_dask",
    "mergeable",
    "plan_partitions",
    "read_partition",
    "require_dask",
    "worker_cache",
]
