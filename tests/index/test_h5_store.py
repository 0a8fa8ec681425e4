"""`H5Store`: items.h5 round trips ids in their own type, JSON metadata, and refuses foreign files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from simsearch.errors import IndexFileError
from simsearch.index import H5Store, StoredItems
from simsearch.index import h5_store as h5_module


def items(ids: Any, n: int = 3, dim: int = 4) -> StoredItems:
    rng = np.random.default_rng(0)
    meta = np.array([None, '{"name": "caf\\u00e9"}', "[1, 2]"][:n] + [None] * max(0, n - 3), dtype=object)
    return StoredItems(
        embeddings=rng.standard_normal((n, dim)).astype(np.float32),
        ids=ids,
        metadata=meta[:n],
        keys=np.arange(n, dtype=np.int64) * 2,
        metric="cosine",
    )


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param(np.array(["a", "ünïcode", "sku/3"], dtype=object), id="str"),
        pytest.param(np.array([7, 2**40, 0], dtype=np.int64), id="int"),
    ],
)
def test_round_trip_keeps_types_and_values(ids: Any, tmp_path: Path) -> None:
    store = H5Store(tmp_path / "items.h5")
    written = items(ids)
    store.write(written)
    read = store.read()
    assert read.ids.dtype == written.ids.dtype and read.ids.tolist() == written.ids.tolist()
    np.testing.assert_array_equal(read.embeddings, written.embeddings)
    assert read.embeddings.dtype == np.float32
    assert read.metadata.tolist() == written.metadata.tolist()
    np.testing.assert_array_equal(read.keys, written.keys)
    assert store.attrs() == {"format_version": 1, "dim": 4, "metric": "cosine", "count": 3,
                             "id_type": written.id_type}


def test_an_empty_store_round_trips(tmp_path: Path) -> None:
    store = H5Store(tmp_path / "items.h5")
    store.write(items(np.empty(0, np.int64), n=0))
    read = store.read()
    assert len(read) == 0 and read.embeddings.shape == (0, 4)


def test_metadata_is_json_text_not_pickle(tmp_path: Path) -> None:
    H5Store(tmp_path / "items.h5").write(items(np.array([1, 2, 3])))
    with h5py.File(tmp_path / "items.h5") as f:
        assert f["metadata"].dtype.kind == "O" and f["metadata"].asstr()[1] == '{"name": "caf\\u00e9"}'


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = H5Store(tmp_path / "items.h5")
    store.write(items(np.array([1, 2, 3])))

    def boom(f: h5py.File, _items: StoredItems) -> None:
        f.create_dataset("embeddings", data=np.zeros(3))
        raise OSError("disk full")

    monkeypatch.setattr(h5_module, "_write", boom)
    with pytest.raises(OSError, match="disk full"):
        store.write(items(np.array([4, 5, 6])))
    assert store.read().ids.tolist() == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["items.h5"]


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(IndexFileError, match="HDF5"):
        H5Store(tmp_path / "text.h5").read()
    with pytest.raises(IndexFileError, match="does not exist"):
        H5Store(tmp_path / "none.h5").read()
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["embeddings"] = np.zeros((2, 3), np.float32)
    with pytest.raises(IndexFileError, match="lacks"):
        H5Store(tmp_path / "other.h5").read()
    store = H5Store(tmp_path / "items.h5")
    store.write(items(np.array([1, 2, 3])))
    with h5py.File(store.path, "a") as f:
        f.attrs["format_version"] = 9
    with pytest.raises(IndexFileError, match="format_version 1"):
        store.read()
    store.write(items(np.array([1, 2, 3])))
    with h5py.File(store.path, "a") as f:
        f.attrs["count"] = 5
    with pytest.raises(IndexFileError, match="shapes"):
        store.read()
