"""`load_vectors`: the user's own vectors, ids and metadata, read and checked as one catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simsearch.data.vectors import load_vectors
from simsearch.errors import DataError

N, DIM = 12, 4


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "X.npy", rng.normal(size=(N, DIM)))  # float64: taken as float32
    (tmp_path / "ids.txt").write_text("".join(f"sku-{i}\n" for i in range(N)))
    rows = [{"id": f"sku-{i}", "brand": f"b{i % 3}", "price": i * 1.5} for i in reversed(range(N))]
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"X": tmp_path / "X.npy", "ids": tmp_path / "ids.txt", "meta": tmp_path / "meta.jsonl"}


def test_reads_vectors_ids_and_metadata_in_the_ids_order(files: dict[str, Path]) -> None:
    catalog = load_vectors(files["X"], files["ids"], files["meta"])
    assert catalog.embeddings.dtype == np.float32 and catalog.embeddings.flags.c_contiguous
    np.testing.assert_allclose(catalog.embeddings, np.load(files["X"]), rtol=1e-6)
    assert catalog.ids.tolist() == [f"sku-{i}" for i in range(N)]
    assert catalog.metadata is not None
    assert catalog.metadata[5] == {"brand": "b2", "price": 7.5}  # the rows were written reversed


def test_integer_ids_are_int64_and_metadata_ids_match_them(tmp_path: Path, files: dict[str, Path]) -> None:
    (tmp_path / "ids.txt").write_text("".join(f"{100 + i}\n" for i in range(N)))
    (tmp_path / "meta.csv").write_text("id,brand\n" + "".join(f"{100 + i},b{i}\n" for i in range(N)))
    catalog = load_vectors(files["X"], files["ids"], tmp_path / "meta.csv")
    assert catalog.ids.dtype == np.int64 and catalog.ids[:2].tolist() == [100, 101]
    assert catalog.metadata is not None and catalog.metadata[1] == {"brand": "b1"}


def test_parquet_metadata(tmp_path: Path, files: dict[str, Path]) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": [f"sku-{i}" for i in range(N)], "stock": list(range(N))})
    pq.write_table(table, tmp_path / "meta.parquet")
    catalog = load_vectors(files["X"], files["ids"], tmp_path / "meta.parquet")
    assert catalog.metadata is not None and catalog.metadata[3] == {"stock": 3}


@pytest.mark.parametrize(
    ("ids_text", "expected"),
    [
        (
            "".join(f"sku-{i}\n" for i in range(N - 1)),
            "Expected one id per row of .*: 12 ids. Received: 11 lines",
        ),
        ("".join(f"sku-{i % 6}\n" for i in range(N)), "Expected unique ids .* 6 repeated"),
        (
            "sku-0\n\n" + "".join(f"sku-{i}\n" for i in range(2, N)),
            r"Expected one non-empty id a line .*\[2\]",
        ),
    ],
    ids=["count", "duplicate", "empty-line"],
)
def test_ids_errors(files: dict[str, Path], ids_text: str, expected: str) -> None:
    files["ids"].write_text(ids_text)
    with pytest.raises(DataError, match=expected):
        load_vectors(files["X"], files["ids"])


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (
            np.arange(N * DIM, dtype=np.int64).reshape(N, DIM),
            "Expected float vectors .* Received: dtype=int64",
        ),
        (np.zeros(N, np.float32), r"Expected vectors of shape \(n, d\).* Received: shape=\(12,\)"),
        (np.zeros((N, 0), np.float32), r"Received: shape=\(12, 0\)"),
        (np.where(np.eye(N, DIM) > 0, np.nan, 0.5), r"NaN or inf .* in 4 row\(s\), first \[0, 1, 2, 3\]"),
        (np.full((N, DIM), 1e300), "NaN or inf \\(or beyond float32\\) in 12 row"),
        (np.array([["a"] * DIM] * N), "Expected float vectors .* Received: dtype=<U1"),
    ],
    ids=["int", "1-d", "zero-width", "nan", "overflow", "text"],
)
def test_vector_errors(files: dict[str, Path], array: np.ndarray, expected: str) -> None:
    np.save(files["X"], array)
    with pytest.raises(DataError, match=expected):
        load_vectors(files["X"], files["ids"])


def test_pickled_or_unreadable_vectors_are_refused(files: dict[str, Path]) -> None:
    np.save(files["X"], np.array([{"a": 1}] * N, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"Expected a readable \.npy file of vectors"):
        load_vectors(files["X"], files["ids"])
    files["X"].write_text("not numpy")
    with pytest.raises(DataError, match=r"Expected a readable \.npy file of vectors"):
        load_vectors(files["X"], files["ids"])


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"id": f"sku-{i}"} for i in range(N - 2)], r"2 ids without a row \(e.g. \['sku-10', 'sku-11'\]\)"),
        (
            [{"id": f"sku-{i}"} for i in range(N)] + [{"id": "ghost"}],
            r"1 rows of unknown ids \(e.g. \['ghost'\]\)",
        ),
        ([{"id": f"sku-{i}"} for i in range(N)] + [{"id": "sku-3"}], r"Expected each id once .* \['sku-3'\]"),
        ([{"brand": "x"}], "Expected an 'id' in every metadata row .* row 1 without"),
    ],
    ids=["missing", "extra", "duplicate", "no-id"],
)
def test_metadata_errors(files: dict[str, Path], rows: list[dict[str, str]], expected: str) -> None:
    files["meta"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=expected):
        load_vectors(files["X"], files["ids"], files["meta"])


def test_metadata_of_another_format_is_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    (tmp_path / "meta.xml").write_text("<rows/>")
    with pytest.raises(DataError, match=r"Expected metadata as .jsonl, .csv or .parquet"):
        load_vectors(files["X"], files["ids"], tmp_path / "meta.xml")
