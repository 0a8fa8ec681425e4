"""`build_from_parts` against `FaissIndex.build` on the same rows: the same FAISS index, byte for byte."""

from __future__ import annotations

import itertools
from typing import Any

import faiss
import numpy as np
import pytest

from simsearch.distributed import EncodedPart, build_from_parts
from simsearch.errors import DataError
from simsearch.index import FaissIndex, IndexConfig, make_synthetic

CUTS = [0, 700, 2500, 2500, 4000]  # uneven partitions, one of them empty


def scatter(client: Any, xb: np.ndarray, ids: np.ndarray, cuts: list[int] = CUTS) -> list[Any]:
    return [
        client.scatter(
            EncodedPart(ids[a:b], xb[a:b], np.array([f'{{"row": {i}}}' for i in range(a, b)], object))
        )
        for a, b in itertools.pairwise(cuts)
    ]


@pytest.mark.parametrize(
    "factory,metric",
    [("Flat", "cosine"), ("IVF32,Flat", "cosine"), ("IVF16,PQ8", "l2"), ("HNSW16", "cosine")],
    ids=["flat", "ivf", "ivf-pq", "hnsw"],
)
def test_dask_build_is_the_local_build(client: Any, factory: str, metric: str) -> None:
    xb, xq = make_synthetic(4000, 16, nq=50, seed=1)
    ids = np.array([f"item-{i}" for i in range(len(xb))], object)
    config = IndexConfig(metric=metric, factory=factory, train_size=2000, seed=3)
    built = build_from_parts(client, scatter(client, xb, ids), config)
    local = FaissIndex(config).build(xb, ids, [{"row": i} for i in range(len(xb))])
    if factory != "HNSW16":  # an HNSW graph depends on FAISS's thread scheduling
        assert bytes(faiss.serialize_index(built.index_)) == bytes(faiss.serialize_index(local.index_))
    assert built.ids.tolist() == local.ids.tolist()
    np.testing.assert_array_equal(built.get(ids[::97]), xb[::97])
    assert built.metadata(["item-2600"]) == [{"row": 2600}]
    (d_built, i_built), (d_local, i_local) = built.search(xq, 10), local.search(xq, 10)
    np.testing.assert_array_equal(i_built, i_local)
    np.testing.assert_array_equal(d_built, d_local)


def test_repeated_ids_across_partitions_are_refused(client: Any) -> None:
    xb, _ = make_synthetic(300, 8, seed=0)
    ids = np.arange(300) % 250  # ids 0..49 again in the last partition
    with pytest.raises(DataError, match="Expected unique ids"):
        build_from_parts(client, scatter(client, xb, ids, [0, 250, 300]), IndexConfig(factory="Flat"))
