"""`--engine dask` through the CLI against `--engine local` on the same input: the same ids,
neighbours, pairs, groups and matches. The models are tiny ones trained in fixtures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from simsearch.cli import cli
from simsearch.dedup import read_groups, read_pairs

from .conftest import loads

TINY = ["--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "32", "--classes-per-batch", "8",
        "--head-epochs", "1", "--quiet"]  # fmt: skip
# SYNTHETIC product listings; catalogue B has each with a typo.
WORDS = ["sony", "bose", "lg", "canon", "nikon", "apple", "dell", "hp", "asus", "acer"]
KINDS = ["speaker", "camera", "laptop", "monitor", "turntable", "phone"]


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def write_csv(path: Path, names: list[str], prefix: str) -> Path:
    lines = "".join(f'{prefix}{i},"{n}",{10 + i}\n' for i, n in enumerate(names))
    path.write_text("id,name,price\n" + lines)
    return path


@pytest.fixture(scope="module")
def names() -> list[str]:
    rng = np.random.default_rng(0)
    return [f"{w} {k}, model {rng.integers(100, 999)}" for w in WORDS for k in KINDS]


@pytest.fixture(scope="module")
def record_model(tmp_path_factory: pytest.TempPathFactory, names: list[str]) -> Path:
    root = tmp_path_factory.mktemp("dask_model")
    left = write_csv(root / "a.csv", names, "a")
    right = write_csv(root / "b.csv", [n[:-1] + "x" for n in names], "b")
    rows = [f"a{i},b{i},1" for i in range(len(names))] + [f"a{i},b{(i + 7) % 60},0" for i in range(60)]
    pairs = root / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n" + "\n".join(rows) + "\n")
    invoke("train", "--pairs", str(pairs), "--catalog", str(left), "--catalog", str(right),
           "--tower", "record", "--fields", "name", "--loss", "bce",
           "--out", str(root / "model"), *TINY)  # fmt: skip
    return root / "model"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory, names: list[str]) -> Path:
    """Catalogue A and, for the first 10 listings, a second copy with a typo (planted duplicates)."""
    return write_csv(
        tmp_path_factory.mktemp("cat") / "cat.csv", names + [n[:-1] + "z" for n in names[:10]], "p"
    )


def build(model: Path, catalog: Path, index: Path, *engine: str) -> Path:
    invoke("build-index", "--model", str(model), "--catalog", str(catalog), "--index", str(index), *engine)
    return index


def assert_same_index(dask_dir: Path, local_dir: Path) -> None:
    from simsearch.index import load_index

    built, local = load_index(dask_dir), load_index(local_dir)
    assert built.ids.tolist() == local.ids.tolist()
    assert built.metadata(built.ids) == local.metadata(local.ids)
    x = local.get(local.ids)
    np.testing.assert_allclose(built.get(built.ids), x, atol=1e-6)  # tower calls batched differently
    (_, found), (_, want) = built.search(x, 5), local.search(x, 5)
    np.testing.assert_array_equal(found, want)


def test_build_index_on_dask_is_the_local_index(
    client: Any, cluster: Any, record_model: Path, catalogue: Path, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = build(record_model, catalogue, tmp_path / "local")
    dask = ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    built = build(record_model, catalogue, tmp_path / "csv", *dask, "--partitions", "6", "--batch-size", "8")
    assert_same_index(built, local)
    # The tower was loaded once per worker, not once for each of the 6 partitions.
    counts = [n for worker in loads(client).values() for (kind, _), n in worker.items() if kind == "model"]
    assert 1 <= len(counts) <= 2 and set(counts) == {1}
    # The same rows as JSON lines and as Parquet row groups; the price (not a field of the model,
    # kept as metadata) as the CSV writes it, so that the three files hold the same values.
    rows = [line.split(",") for line in catalogue.read_text().splitlines()[1:]]
    records = [{"id": r[0], "name": ",".join(r[1:-1]).strip('"'), "price": r[-1]} for r in rows]
    jsonl = tmp_path / "cat.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    parquet = tmp_path / "cat.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet, row_group_size=16)
    assert_same_index(build(record_model, jsonl, tmp_path / "jsonl", *dask, "--partitions", "3"), local)
    assert_same_index(build(record_model, parquet, tmp_path / "pq", *dask), local)
    assert_same_index(build(record_model, parquet, tmp_path / "pq-local"), local)  # local reads Parquet too


def test_dedup_and_match_on_dask_are_the_local_ones(
    cluster: Any, record_model: Path, catalogue: Path, names: list[str], tmp_path: Path
) -> None:
    index = str(build(record_model, catalogue, tmp_path / "index"))
    dask = ["--engine", "dask", "--scheduler", cluster.scheduler_address, "--partitions", "3"]
    common = ["--index", index, "--rerank", "--threshold", "0.3", "-k", "3", "--chunk-size", "25", "--groups"]
    invoke("dedup", *common, "--out", str(tmp_path / "local.parquet"))
    text = invoke("dedup", *common, "--out", str(tmp_path / "dask.parquet"), *dask)
    assert "duplicate pairs among 70 items (probability >= 0.3)" in text
    assert (tmp_path / "dask.parquet").is_dir() and (tmp_path / "dask.groups.parquet").is_dir()
    want, found = read_pairs(tmp_path / "local.parquet"), read_pairs(tmp_path / "dask.parquet")
    assert len(want) > 10 and want.scores is not None and found.scores is not None
    assert found.left_ids.tolist() == want.left_ids.tolist()
    assert found.right_ids.tolist() == want.right_ids.tolist()
    np.testing.assert_array_equal(found.distances, want.distances)
    np.testing.assert_allclose(found.scores, want.scores, atol=1e-6)
    (ids, groups), (want_ids, want_groups) = (
        read_groups(tmp_path / "dask.groups.parquet"),
        read_groups(tmp_path / "local.groups.parquet"),
    )
    assert ids.tolist() == want_ids.tolist() and groups.tolist() == want_groups.tolist()
    # Catalogue B matched against A.
    b = write_csv(tmp_path / "b.csv", [n[:-1] + "x" for n in names], "b")
    match = ["--index", index, "--catalog", str(b), "--rerank", "--threshold", "0.2", "-k", "2"]
    invoke("match", *match, "--out", str(tmp_path / "m-local.parquet"))
    assert "matches for 60 items" in invoke("match", *match, "--out", str(tmp_path / "m.parquet"), *dask)
    want, found = read_pairs(tmp_path / "m-local.parquet"), read_pairs(tmp_path / "m.parquet")
    assert len(want) > 30 and found.left_ids.tolist() == want.left_ids.tolist()
    assert found.right_ids.tolist() == want.right_ids.tolist()
    np.testing.assert_allclose(found.distances, want.distances, atol=1e-6)


def test_dedup_starts_a_local_cluster_without_scheduler(
    catalogue: Path, record_model: Path, tmp_path: Path
) -> None:
    from simsearch.index import load_index

    index = str(build(record_model, catalogue, tmp_path / "index"))
    x = load_index(index).get(load_index(index).ids)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    distances = np.sort((1 - x @ x.T)[np.triu_indices(len(x), 1)])
    threshold = float(distances[20] + distances[21]) / 2  # 21 pairs pass
    common = ["--index", index, "--no-rerank", "--threshold", str(threshold), "-k", "60"]
    invoke("dedup", *common, "--out", str(tmp_path / "local.csv"))
    invoke("dedup", *common, "--out", str(tmp_path / "dask.parquet"), "--engine", "dask", "--workers", "2")
    want, found = read_pairs(tmp_path / "local.csv"), read_pairs(tmp_path / "dask.parquet")
    assert len(want) == 21 and found.left_ids.tolist() == want.left_ids.tolist()
    np.testing.assert_allclose(found.distances, want.distances, atol=1e-6)  # CSV keeps shortest floats


def test_engine_options_are_checked(
    record_model: Path, catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = [
        "build-index",
        "--model",
        str(record_model),
        "--catalog",
        str(catalogue),
        "--index",
        str(tmp_path / "i"),
    ]
    assert "Expected --scheduler only with --engine dask" in invoke(*base, "--scheduler", "tcp://x:1", code=1)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    text = invoke(*base, "--engine", "dask", code=1)
    assert 'Expected Dask for --engine dask: pip install "simsearch[dask]"' in text
    assert not (tmp_path / "i").exists()


@pytest.fixture(scope="module")
def image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simsearch.datasets import omniglot_sample

    out = tmp_path_factory.mktemp("dask_image") / "model"
    invoke("train", "--data", str(omniglot_sample("background")), "--tower", "image", "--invert",
           "--loss", "softmax", "--out", str(out), *TINY)  # fmt: skip
    return out


def test_image_folder_encoded_on_dask_is_the_local_index(
    cluster: Any, image_model: Path, tmp_path: Path
) -> None:
    from simsearch.datasets import omniglot_sample

    images = np.load(omniglot_sample("evaluation"))["images"][:40]
    for i, image in enumerate(images):
        folder = tmp_path / "imgs" / f"c{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    local = build(image_model, tmp_path / "imgs", tmp_path / "local")
    dask = ["--engine", "dask", "--scheduler", cluster.scheduler_address, "--partitions", "3"]
    assert_same_index(build(image_model, tmp_path / "imgs", tmp_path / "dask", *dask), local)
