"""Catalogue partitions against the local loaders: the same rows, ids and values (no Dask needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simsearch.data.loaders import load_image_folder, load_table
from simsearch.distributed.catalog import CatalogSpec, plan_partitions, read_partition
from simsearch.errors import ConfigError, DataError

SPEC = CatalogSpec(fields=("name", "price"), numeric_fields=("price",))


def rows(n: int = 57) -> list[dict[str, str]]:
    """Hand-made records with what splitting could break: quoted commas and line breaks, quotes,
    empty numbers, non-ASCII text."""
    out = []
    for i in range(n):
        name = f"item {i}, size {i % 5}" if i % 3 else f'the "best" item\nline two of {i}'
        out.append(
            {
                "id": f"r{i}",
                "name": name + (" é" if i % 7 == 0 else ""),
                "price": "" if i % 4 == 0 else str(i / 2),
            }
        )
    return out


def write_csv(path: Path, records: list[dict[str, str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["id", "name", "price"])
        writer.writeheader()
        writer.writerows(records)
    return path


def read_all(path: Path, n_partitions: int, spec: CatalogSpec = SPEC) -> dict[str, list]:
    parts = [read_partition(p, spec) for p in plan_partitions(path, n_partitions)]
    out: dict[str, list] = {"ids": [i for p in parts for i in p.ids.tolist()]}
    for name in spec.fields:
        out[name] = [v for p in parts for v in p.fields[name].tolist()]
    return out


def expected(records: list[dict[str, str]]) -> dict[str, list]:
    items = load_table_from(records)  # every cell as written; numbers parsed as the encoder does
    prices = [float(value) if value else float("nan") for value in items.fields["price"].tolist()]
    return {"ids": items.ids.tolist(), "name": items.fields["name"].tolist(), "price": prices}


def load_table_from(records: list[dict[str, str]]):  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return load_table(write_csv(Path(tmp) / "t.csv", records), fields=["name", "price"])


def same(a: dict[str, list], b: dict[str, list]) -> None:
    assert a["ids"] == b["ids"] and a["name"] == b["name"]
    np.testing.assert_array_equal(np.array(a["price"], np.float32), np.array(b["price"], np.float32))


@pytest.mark.parametrize("n_partitions", [1, 3, 8, 200], ids=["one", "three", "eight", "more-than-rows"])
def test_csv_partitions_read_the_rows_load_table_reads(tmp_path: Path, n_partitions: int) -> None:
    records = rows()
    path = write_csv(tmp_path / "cat.csv", records)
    parts = plan_partitions(path, n_partitions)
    assert 1 <= len(parts) <= n_partitions
    assert parts[0].start > 0 and parts[-1].stop == path.stat().st_size  # header skipped, all bytes
    same(read_all(path, n_partitions), expected(records))


def test_jsonl_and_parquet_partitions_read_the_same_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = rows()
    jsonl = tmp_path / "cat.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    prices = [None if r["price"] == "" else float(r["price"]) for r in records]
    table = pa.table(
        {"id": [r["id"] for r in records], "name": [r["name"] for r in records], "price": prices}
    )
    folder = tmp_path / "cat.parquet"
    folder.mkdir()
    pq.write_table(table.slice(0, 20), folder / "a.parquet", row_group_size=6)
    pq.write_table(table.slice(20), folder / "b.parquet", row_group_size=10)
    want = expected(records)
    for n_partitions in (1, 4):
        same(read_all(jsonl, n_partitions), want)
        same(read_all(folder, n_partitions), want)
    assert len(plan_partitions(folder, 100)) == 4 + 4  # one per row group at most


def test_image_folder_partitions_read_what_load_image_folder_reads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(11):
        folder = tmp_path / "imgs" / ("" if i < 3 else f"class{i % 3}")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 10), dtype=np.uint8)).save(folder / f"{i}.png")
    root = tmp_path / "imgs"
    local = load_image_folder(root, image_size=(8, 8), labelled=False)
    spec = CatalogSpec(image_size=(8, 8), channels=1)
    parts = [read_partition(p, spec) for p in plan_partitions(root, 3)]
    assert [i for p in parts for i in p.ids.tolist()] == local.ids.tolist()
    np.testing.assert_array_equal(np.concatenate([p.images for p in parts]), local.images)
    names = [p.classes[label] if label >= 0 else None for p in parts for label in p.labels.tolist()]
    assert names == [local.classes[label] if label >= 0 else None for label in local.labels.tolist()]


def test_bad_input_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cat.csv", rows(5))
    with pytest.raises(DataError, match=r"Expected columns \['id', 'name', 'colour'\]"):
        read_partition(plan_partitions(path, 1)[0], CatalogSpec(fields=("name", "colour")))
    with pytest.raises(DataError, match="Expected numbers in field 'name'"):
        read_partition(plan_partitions(path, 1)[0], CatalogSpec(fields=("name",), numeric_fields=("name",)))
    with pytest.raises(ConfigError, match="Expected n_partitions >= 1"):
        plan_partitions(path, 0)
    with pytest.raises(DataError, match=r"Expected a \.csv, \.jsonl or \.parquet file"):
        plan_partitions(tmp_path / "cat.tsv", 2)


def _parquet(path: Path, columns: dict[str, list]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def test_no_id_column_extra_columns_and_ragged_rows_as_load_table(tmp_path: Path) -> None:
    """Both readers (`load_table` for CSV/JSONL, partitions for every kind): the id column is
    required, other columns are kept as metadata, ragged rows and other encodings are refused."""
    csv_path = tmp_path / "cat.csv"
    csv_path.write_text("id,name,price,url\n1,a,2,http://a\n2,b,3,\n", encoding="utf-8")
    parquet = _parquet(tmp_path / "cat.parquet", {"id": [1, 2], "name": ["a", "b"], "price": [2.0, 3.0],
                                                  "url": ["http://a", None]})  # fmt: skip
    local = load_table(csv_path, fields=["name", "price"], row_ids=False)
    assert local.metadata["url"].tolist() == ["http://a", None]
    for path in (csv_path, parquet):
        items = read_partition(plan_partitions(path, 1)[0], SPEC)
        assert items.ids.tolist() == [1, 2] and items.metadata["url"].tolist() == ["http://a", None]

    no_id = tmp_path / "no-id.csv"
    no_id.write_text("name,price\na,2\n")
    no_id_parquet = _parquet(tmp_path / "no-id.parquet", {"name": ["a"], "price": [2.0]})
    with pytest.raises(DataError, match=r"Expected an id column 'id'.*--id-column"):
        load_table(no_id, fields=["name", "price"], row_ids=False)
    for path in (no_id, no_id_parquet):
        with pytest.raises(DataError, match=r"Expected an id column 'id'.*--id-column"):
            read_partition(plan_partitions(path, 1)[0], SPEC)

    for ragged in ("id,name,price\n1,a\n", "id,name,price\n1,a,2,x\n"):
        path = tmp_path / "ragged.csv"
        path.write_text(ragged)
        with pytest.raises(DataError, match="Expected 3 cells per row"):
            load_table(path, fields=["name", "price"])
        with pytest.raises(DataError, match="Expected 3 cells per row"):
            read_partition(plan_partitions(path, 1)[0], SPEC)

    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,name,price\n1,caf\xe9,2\n")
    with pytest.raises(DataError, match=r"Expected utf-8 text.*--encoding"):
        load_table(latin, fields=["name", "price"])
    with pytest.raises(DataError, match=r"Expected utf-8 text.*--encoding"):
        read_partition(plan_partitions(latin, 1)[0], SPEC)
    spec = CatalogSpec(fields=("name", "price"), numeric_fields=("price",), encoding="latin-1")
    assert read_partition(plan_partitions(latin, 1, "latin-1")[0], spec).fields["name"].tolist() == ["café"]
    assert load_table(latin, fields=["name"], encoding="latin-1").fields["name"].tolist() == ["café"]
