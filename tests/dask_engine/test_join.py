"""`find_duplicates_dask` against `find_duplicates` on the same index: the same pairs, row for row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.dedup import PairFilter, find_duplicates, read_pairs
from simsearch.distributed import JoinSpec, WorkerHeadScorer, find_duplicates_dask
from simsearch.errors import ConfigError, OutputFileError
from simsearch.index import FaissIndex, IndexConfig, make_synthetic, save_index


def planted_index(tmp_path: Path, factory: str, str_ids: bool) -> tuple[Path, FaissIndex]:
    xb, _ = make_synthetic(3000, 16, seed=2)
    rng = np.random.default_rng(0)
    copies = xb[:200] + 0.01 * rng.standard_normal((200, 16)).astype(np.float32)
    xb = np.vstack([xb, copies, xb[:5]])  # near-copies, and 5 exact ones
    ids = np.array([f"p{i}" for i in range(len(xb))], object) if str_ids else np.arange(len(xb)) * 7
    index = FaissIndex(IndexConfig(factory=factory)).build(xb, ids)
    return save_index(tmp_path / "index", index), index


def assert_same(found: Any, want: Any) -> None:
    np.testing.assert_array_equal(found.left_ids, want.left_ids)
    np.testing.assert_array_equal(found.right_ids, want.right_ids)
    np.testing.assert_array_equal(found.distances, want.distances)


@pytest.mark.parametrize(
    "factory,str_ids", [("Flat", True), ("IVF16,Flat", False)], ids=["flat-str-ids", "ivf-int-ids"]
)
def test_dask_self_join_is_the_local_one(client: Any, tmp_path: Path, factory: str, str_ids: bool) -> None:
    path, index = planted_index(tmp_path, factory, str_ids)
    spec = JoinSpec(PairFilter(k=4, max_distance=0.02), chunk_size=700)
    want = find_duplicates(index, PairFilter(k=4, max_distance=0.02), chunk_size=700)
    assert len(want) > 200
    out = tmp_path / "pairs.parquet"
    pairs = find_duplicates_dask(client, path, index.ids, spec, out, partitions=3)
    assert_same(pairs, want)
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert_same(read_pairs(out), want)  # the parts, read in name order, are the local file
    # Incremental: only some items searched against all; a second run replaces the output.
    some = index.ids[3100:3205]
    pairs = find_duplicates_dask(client, path, index.ids, spec, out, query_ids=some, partitions=2)
    assert_same(pairs, find_duplicates(index, PairFilter(k=4, max_distance=0.02), query_ids=some))
    assert len(list(out.iterdir())) == 2


def test_output_must_be_a_parquet_directory(client: Any, tmp_path: Path) -> None:
    path, index = planted_index(tmp_path, "Flat", False)
    spec = JoinSpec(PairFilter(k=2, max_distance=0.01))
    with pytest.raises(ConfigError, match=r"ending in \.parquet"):
        find_duplicates_dask(client, path, index.ids, spec, tmp_path / "pairs.csv")
    (tmp_path / "busy.parquet").mkdir()
    (tmp_path / "busy.parquet" / "notes.txt").write_text("mine")
    with pytest.raises(OutputFileError, match="a folder holding other files"):
        find_duplicates_dask(client, path, index.ids, spec, tmp_path / "busy.parquet")
    with pytest.raises(ConfigError, match="Expected model_dir to re-rank with"):
        JoinSpec(PairFilter(min_score=0.5, scorer=WorkerHeadScorer(None)))
