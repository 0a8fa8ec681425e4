"""An index of the user's own vectors through the CLI: build-index --vectors, query by --id and
--vector, add/upsert --vectors, delete, dedup and match, each checked against numpy brute force;
one-line errors; and none of it importing TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from simsearch.index import load_index, read_manifest
from tests.index.oracle import brute_force

N, DIM, K = 200, 8, 5


def _invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def own(tmp_path: Path) -> dict[str, Path]:
    """X.npy (N, DIM) clustered, ids `sku-i`, metadata in JSON lines."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, DIM))
    xb = (centres[np.arange(N) % 20] + 0.1 * rng.normal(size=(N, DIM))).astype(np.float32)
    np.save(tmp_path / "X.npy", xb)
    (tmp_path / "ids.txt").write_text("".join(f"sku-{i}\n" for i in range(N)))
    rows = [{"id": f"sku-{i}", "brand": f"b{i % 3}"} for i in range(N)]
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {
        "X": tmp_path / "X.npy",
        "ids": tmp_path / "ids.txt",
        "meta": tmp_path / "meta.jsonl",
        "dir": tmp_path,
    }


def _build(own: dict[str, Path], *extra: str) -> Path:
    index = own["dir"] / "index"
    code, out = _invoke(
        "build-index",
        "--vectors",
        own["X"],
        "--ids",
        own["ids"],
        "--metadata",
        own["meta"],
        "--index",
        index,
        *extra,
    )
    assert code == 0, out
    return index


def _expected(
    xb: np.ndarray, xq: np.ndarray, metric: str, k: int, skip_self: bool = False
) -> list[list[str]]:
    order = np.argsort(brute_force(xb, xq, metric), axis=1, kind="stable")
    rows = order[:, 1 : k + 1] if skip_self else order[:, :k]
    return [[f"sku-{i}" for i in row] for row in rows]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_query_by_id_and_vector_agree_with_brute_force(own: dict[str, Path], metric: str) -> None:
    index = _build(own, "--metric", metric)
    manifest = read_manifest(index)
    assert (manifest["metric"], manifest["dim"], manifest["count"], manifest["id_type"]) == (
        metric,
        DIM,
        N,
        "str",
    )
    assert manifest["extra"] == {"source": "vectors"}
    xb = np.load(own["X"])
    code, out = _invoke("query", "--index", index, "--id", "sku-7", "--id", "sku-8", "-k", K, "--json")
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [[h["id"] for h in line["hits"]] for line in lines] == _expected(
        xb, xb[[7, 8]], metric, K, skip_self=True
    )
    assert lines[0]["hits"][0]["metadata"] == {"brand": f"b{int(lines[0]['hits'][0]['id'][4:]) % 3}"}
    vector = ",".join(f"{v:.9g}" for v in xb[11] + 0.01)
    code, out = _invoke("query", "--index", index, "--vector", vector, "-k", K, "--json")
    assert code == 0, out
    hits = json.loads(out)["hits"]
    assert [h["id"] for h in hits] == _expected(xb, (xb[11] + 0.01)[None], metric, K)[0]
    np.testing.assert_allclose(
        [h["distance"] for h in hits],
        np.sort(brute_force(xb, (xb[11] + 0.01)[None], metric)[0])[:K],
        atol=1e-5,
    )


def test_add_upsert_delete_by_vectors(own: dict[str, Path]) -> None:
    index = _build(own)
    new = np.random.default_rng(1).normal(size=(3, DIM)).astype(np.float32)
    np.save(own["dir"] / "new.npy", new)
    (own["dir"] / "new.txt").write_text("new-0\nnew-1\nsku-0\n")
    code, out = _invoke(
        "add", "--index", index, "--vectors", own["dir"] / "new.npy", "--ids", own["dir"] / "new.txt"
    )
    assert code == 1 and out.count("\n") == 1 and "Expected ids not in the index yet" in out  # sku-0 exists
    args = ("--vectors", own["dir"] / "new.npy", "--ids", own["dir"] / "new.txt")
    code, out = _invoke("add", "--index", index, "--upsert", *args)
    assert code == 0 and f"Upserted 3 items; {N + 2} in" in out, out
    loaded = load_index(index)
    np.testing.assert_array_equal(loaded.get(["new-0", "new-1", "sku-0"]), new)
    assert loaded.metadata(["sku-0"]) == [{"brand": "b0"}]  # an upsert without metadata keeps it
    code, out = _invoke("delete", "--index", index, "--id", "new-1", "--id", "sku-3")
    assert code == 0, out
    loaded = load_index(index)
    assert len(loaded) == N and "sku-3" not in loaded and "new-0" in loaded
    code, out = _invoke("query", "--index", index, "--id", "new-0", "-k", 1, "--json")
    xb = np.load(own["X"])
    xb[0] = new[2]
    keep = [i for i in range(N) if i != 3]
    nearest = int(np.argmin(brute_force(xb[keep], new[:1], "cosine")[0]))
    assert json.loads(out)["hits"][0]["id"] == f"sku-{keep[nearest]}"


def test_dedup_and_match_by_vectors(own: dict[str, Path]) -> None:
    index = _build(own)
    xb = np.load(own["X"])
    distances = brute_force(xb, xb, "cosine")
    code, out = _invoke("dedup", "--index", index, "--out", own["dir"] / "pairs.csv", "--threshold", 0.002)
    assert code == 0, out
    found = {tuple(line.split(",")[:2]) for line in (own["dir"] / "pairs.csv").read_text().splitlines()[1:]}
    i, j = np.nonzero(np.triu(distances <= 0.002, k=1))
    assert {frozenset(p) for p in found} == {
        frozenset((f"sku-{a}", f"sku-{b}")) for a, b in zip(i, j, strict=True)
    }
    assert "the head" not in out  # no model, no head to speak of
    np.save(own["dir"] / "B.npy", xb[:10] + 1e-4)
    (own["dir"] / "B.txt").write_text("".join(f"b-{i}\n" for i in range(10)))
    code, out = _invoke(
        "match", "--index", index, "--vectors", own["dir"] / "B.npy", "--ids", own["dir"] / "B.txt",
        "--threshold", 0.0001, "--one-to-one", "--out", own["dir"] / "m.csv",
    )  # fmt: skip
    assert code == 0, out
    rows = [line.split(",")[:2] for line in (own["dir"] / "m.csv").read_text().splitlines()[1:]]
    assert sorted(rows) == sorted([f"sku-{i}", f"b-{i}"] for i in range(10))


_NO_MODEL = "built from vectors without a model"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["query", "--text", "hi"],
            "Expected --id or --vector for '{index}', " + _NO_MODEL + ". Received: --text",
        ),
        (["query", "--vector", "1,2"], "Expected --vector of 8 numbers (the index's dim). Received: 2"),
        (["query", "--vector", "1,x"], "Expected --vector as numbers"),
        (["query", "--id", "sku-1", "--rerank", "5"], "Expected a model with a pairwise head"),
        (["add", "--catalog", "{X}"], "Expected --vectors and --ids for '{index}', " + _NO_MODEL),
        (["add", "--vectors", "{X}"], "Expected --ids (one id per line) with --vectors. Received: no --ids"),
        (
            ["add", "--vectors", "{X}", "--ids", "{ids}", "--catalog", "{X}"],
            "Expected --catalog or --vectors",
        ),
        (
            ["dedup", "--out", "{dir}/p.csv", "--rerank", "--threshold", "1"],
            "Expected an index built with a model",
        ),
    ],
    ids=["text", "dim", "not-numbers", "rerank", "catalog", "no-ids", "both", "dedup-rerank"],
)
def test_errors_on_an_index_without_a_model_are_one_line(
    own: dict[str, Path], args: list[str], message: str
) -> None:
    index = _build(own)
    names = {"index": index, "X": own["X"], "ids": own["ids"], "dir": own["dir"]}
    code, out = _invoke(args[0], "--index", index, *[a.format(**names) for a in args[1:]])
    assert code == 1 and out.startswith("Error: ") and out.count("\n") == 1, out
    assert message.format(**names) in out


_OWN = ["--vectors", "{X}", "--ids", "{ids}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ids", "{ids}"], "Expected --model with --catalog, or --vectors with --ids. Received: neither"),
        ([*_OWN, "--model", "{dir}"], "Expected --vectors or --model/--catalog"),
        (["--vectors", "{X}"], "Expected --ids (one id per line) with --vectors"),
        ([*_OWN, "--engine", "dask"], "Expected --vectors on the local engine"),
        ([*_OWN, "--factory", "Flat", "--target-recall", "0.9"], "Expected --factory or --target-recall"),
        ([*_OWN, "--max-memory", "1GB"], "Expected --target-recall with --max-memory"),
        ([*_OWN, "--factory", "IVF9999,Flat"], "Expected enough embeddings to train the index"),
        (
            ["--vectors", "{dir}/bad.npy", "--ids", "{ids}"],
            "Expected float vectors (float16, float32 or float64)",
        ),
        ([*_OWN, "--target-recall", "0.9", "--max-memory", "1KB"], "Expected max_memory of at least"),
    ],
    ids=[
        "no-source",
        "both",
        "no-ids",
        "dask",
        "factory-and-target",
        "memory-alone",
        "factory",
        "dtype",
        "memory",
    ],
)
def test_build_errors_are_one_line(own: dict[str, Path], args: list[str], message: str) -> None:
    np.save(own["dir"] / "bad.npy", np.arange(N * DIM).reshape(N, DIM))
    names = {"X": own["X"], "ids": own["ids"], "dir": own["dir"]}
    code, out = _invoke("build-index", "--index", own["dir"] / "new", *[a.format(**names) for a in args])
    assert code == 1 and out.startswith("Error: ") and out.count("\n") == 1, out
    assert message.format(**names) in out
    assert not (own["dir"] / "new").exists()


def test_target_recall_prints_and_records_the_choice(own: dict[str, Path]) -> None:
    index = _build(own, "--target-recall", "0.9", "--max-memory", "1MiB")
    tuning = read_manifest(index)["tuning"]
    assert tuning["target_recall"] == 0.9 and tuning["max_memory"] == 2**20 and tuning["queries"] == N // 10
    assert tuning["recall_at_10"] >= 0.9 and tuning["memory_bytes"] <= 2**20
    assert read_manifest(index)["search_params"] == tuning["params"]
    again = own["dir"] / "again"
    code, out = _invoke(
        "build-index", "--vectors", own["X"], "--ids", own["ids"], "--index", again, "--target-recall", 1
    )
    tuning = read_manifest(again)["tuning"]
    assert code == 0 and out.splitlines()[1].startswith(f"Chose {tuning['factory']}"), out
    bound = f"(95% lower bound {tuning['recall_lower_95']:.4f})"
    assert f"recall@10 {tuning['recall_at_10']:.4f} {bound} on 20 held-out queries (target 1)" in out


def test_none_of_it_imports_tensorflow(own: dict[str, Path]) -> None:
    """Build, query, add, delete, dedup, match and a search through the server's service, in one
    process that then looks for TensorFlow and Keras in sys.modules."""
    code = f"""
import sys
from click.testing import CliRunner
from simsearch.cli import cli
d = {str(own["dir"])!r}
def run(*args):
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
run('build-index', '--vectors', d + '/X.npy', '--ids', d + '/ids.txt', '--metadata', d + '/meta.jsonl',
    '--index', d + '/i', '--target-recall', '0.9')
run('query', '--index', d + '/i', '--id', 'sku-1')
run('query', '--index', d + '/i', '--vector', ','.join(['0.5'] * {DIM}))
run('add', '--index', d + '/i', '--upsert', '--vectors', d + '/X.npy', '--ids', d + '/ids.txt')
run('delete', '--index', d + '/i', '--id', 'sku-1')
run('dedup', '--index', d + '/i', '--out', d + '/p.csv', '--threshold', '0.1')
run('match', '--index', d + '/i', '--vectors', d + '/X.npy', '--ids', d + '/ids.txt', '--threshold', '0.1',
    '--out', d + '/m.csv')
from simsearch.engine import SearchEngine
from simsearch.search.query import Query
from simsearch.server import IndexService, create_app
from simsearch.server.config import ServerConfig
service = IndexService(SearchEngine.load(d + '/i'), ServerConfig(allow_writes=True)).start()
assert len(service.search(Query(k=3), vectors=[[0.5] * {DIM}])[0]) == 3
service.add(['z'], [[1.0] * {DIM}], [{{'brand': 'z'}}])
service.close()
print('tensorflow' in sys.modules, 'keras' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"
