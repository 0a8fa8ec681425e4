"""`simsearch dedup` and `simsearch match` through CliRunner, against numpy brute force."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.cli import cli

from .test_cli import TINY

# SYNTHETIC product strings: every listing of catalogue A, and in B the same listing with a typo.
WORDS = ["sony", "bose", "lg", "canon", "nikon", "apple", "dell", "hp", "asus", "acer"]
KINDS = ["speaker", "camera", "laptop", "monitor", "turntable", "phone"]


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def write_csv(path: Path, names: list[str], prefix: str) -> Path:
    path.write_text("id,name\n" + "".join(f"{prefix}{i},{n}\n" for i, n in enumerate(names)))
    return path


@pytest.fixture(scope="module")
def names() -> list[str]:
    rng = np.random.default_rng(0)
    return [f"{w} {k} {rng.integers(100, 999)}" for w in WORDS for k in KINDS]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, names: list[str]) -> Path:
    root = tmp_path_factory.mktemp("dedup_model")
    left = write_csv(root / "a.csv", names, "a")
    right = write_csv(root / "b.csv", [n[:-1] + "x" for n in names], "b")
    rows = [f"a{i},b{i},1" for i in range(len(names))]
    rows += [f"a{i},b{(i + 7) % len(names)},0" for i in range(len(names))]
    pairs = root / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n" + "\n".join(rows) + "\n")
    valid = root / "valid.csv"  # given held-out pairs: the head is trained (no cross-validation)
    valid.write_text("left_id,right_id,label\n" + "\n".join(rows[::3]) + "\n")
    out = root / "model"
    invoke("train", "--pairs", str(pairs), "--valid-pairs", str(valid), "--catalog", str(left),
           "--catalog", str(right), "--tower", "record", "--fields", "name", "--loss", "bce",
           "--out", str(out), *TINY)  # fmt: skip
    return out


@pytest.fixture()
def index(tmp_path: Path, model: Path, names: list[str]) -> Path:
    """An index of A plus, for the first 10 listings, a second copy with a typo (planted duplicates)."""
    catalog = names + [n[:-1] + "z" for n in names[:10]]
    path = tmp_path / "index"
    source = write_csv(tmp_path / "cat.csv", catalog, "p")
    invoke("build-index", "--model", str(model), "--catalog", str(source), "--index", str(path))
    return path


def read(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def pair_distances(index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue ids and the `(n, n)` cosine distances between all items, by numpy."""
    from simsearch.index import load_index

    idx = load_index(index_dir)
    x = idx.get(idx.ids)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return idx.ids.astype(str), 1.0 - x @ x.T


def brute_force_pairs(index_dir: Path, max_distance: float) -> set[tuple[str, str]]:
    ids, distance = pair_distances(index_dir)
    rows, cols = np.nonzero(np.triu(distance <= max_distance, k=1))
    return {(ids[r], ids[c]) for r, c in zip(rows, cols, strict=True)}


def nth_pair_distance(index_dir: Path, n: int) -> float:
    """A threshold that n pairs pass (between the n-th and the next pair distance)."""
    _, distance = pair_distances(index_dir)
    values = np.sort(distance[np.triu_indices(len(distance), 1)])
    return float((values[n - 1] + values[n]) / 2)


def test_dedup_without_head_equals_brute_force(index: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    threshold = nth_pair_distance(index, 40)
    text = invoke("dedup", "--index", str(index), "--out", str(out), "--no-rerank",
                  "--threshold", str(threshold), "-k", "80")  # fmt: skip
    assert f"distance <= {threshold:.4g}" in text
    rows = read(out)
    assert list(rows[0]) == ["left_id", "right_id", "distance", "score"]
    found = {(r["left_id"], r["right_id"]) for r in rows}
    assert len(found) == 40 and found == brute_force_pairs(index, threshold)
    assert all(r["score"] == "" for r in rows)


def test_dedup_by_default_follows_the_models_rule_for_the_head(
    index: Path, model: Path, tmp_path: Path
) -> None:
    config = json.loads((model / "config.json").read_text())
    text = invoke("dedup", "--index", str(index), "--out", str(tmp_path / "default.csv"))
    if config["head"]["decides"]:
        assert "the head decides (it beat the distance on held-out data): probability >=" in text
    else:
        cut = config["threshold"]["distance"]
        rule = "the distance decides (the head did not beat it on held-out data)"
        assert f"{rule}: distance <= {cut:.4g}" in text
        assert all(float(r["distance"]) <= cut + 1e-6 for r in read(tmp_path / "default.csv"))


def test_dedup_reranks_at_the_calibrated_threshold(index: Path, model: Path, tmp_path: Path) -> None:
    from simsearch.index import load_index
    from simsearch.models.siamese import SiameseModel

    head = SiameseModel.load(model)
    cut = head.threshold["probability"]
    text = invoke("dedup", "--index", str(index), "--out", str(tmp_path / "calibrated.csv"), "--rerank")
    assert f"probability >= {cut:.4g}, calibrated" in text
    assert all(float(r["score"]) >= cut for r in read(tmp_path / "calibrated.csv"))
    # Every candidate kept: each is scored by the head, on the stored embeddings.
    out = tmp_path / "pairs.jsonl"
    invoke("dedup", "--index", str(index), "--out", str(out), "--groups", "--threshold", "0", "-k", "3",
           "--rerank")  # fmt: skip
    rows = read(out)
    assert len(rows) >= 70 * 3 / 2
    assert all(r["left_id"] != r["right_id"] for r in rows)
    assert len({frozenset((r["left_id"], r["right_id"])) for r in rows}) == len(rows)
    idx = load_index(index)
    u, v = idx.get([r["left_id"] for r in rows]), idx.get([r["right_id"] for r in rows])
    np.testing.assert_allclose([r["score"] for r in rows], head.score_pairs(u, v), atol=1e-5)
    groups = read(tmp_path / "pairs.groups.jsonl")
    assert sorted(g["id"] for g in groups) == sorted(f"p{i}" for i in range(70))


def test_min_precision_reads_the_models_curve(index: Path, model: Path, tmp_path: Path) -> None:
    from simsearch.evaluation.metrics import threshold_for_precision
    from simsearch.models.siamese import SiameseModel

    curve = SiameseModel.load(model).calibration["distance"]
    precision = min(row[1] for row in curve)
    text = invoke("dedup", "--index", str(index), "--out", str(tmp_path / "p.csv"), "--no-rerank",
                  "--min-precision", str(precision))  # fmt: skip
    assert f"distance <= {threshold_for_precision(curve, precision):.4g}" in text


def test_incremental_dedup_keeps_existing_groups(index: Path, names: list[str], tmp_path: Path) -> None:
    # Exact copies of p20 and p21 arrive, and one listing unlike any other: at a threshold only
    # exact copies pass, the copies must join their originals' groups.
    common = ["--no-rerank", "--threshold", "1e-4", "-k", "5"]
    first = tmp_path / "groups.csv"
    invoke("dedup", "--index", str(index), "--out", str(tmp_path / "p1.csv"), "--groups", str(first), *common)
    before = {r["id"]: r["group"] for r in read(first)}
    added = tmp_path / "new.csv"
    added.write_text(f"id,name\nn1,{names[20]}\nn2,{names[21]}\nn3,zzzz qqqq 000\n")
    invoke("add", "--index", str(index), "--catalog", str(added))
    after_path = tmp_path / "groups2.csv"
    invoke("dedup", "--index", str(index), "--out", str(tmp_path / "p2.csv"), "--existing-groups", str(first),
           "--groups", str(after_path), *common)  # fmt: skip
    after = {r["id"]: r["group"] for r in read(after_path)}
    assert {k: after[k] for k in before} == before
    pairs = {(r["left_id"], r["right_id"]) for r in read(tmp_path / "p2.csv")}
    assert pairs == {("p20", "n1"), ("p21", "n2")}
    assert after["n1"] == before["p20"] and after["n2"] == before["p21"]
    assert int(after["n3"]) == max(map(int, before.values())) + 1


def test_match_against_brute_force(index: Path, model: Path, names: list[str], tmp_path: Path) -> None:
    from simsearch.index import load_index
    from simsearch.models.siamese import SiameseModel

    b = write_csv(tmp_path / "b.csv", [n[:-1] + "y" for n in names[:15]], "b")
    out = tmp_path / "matches.csv"
    invoke("match", "--index", str(index), "--catalog", str(b), "--out", str(out), "--no-rerank",
           "--threshold", "2", "-k", "3")  # fmt: skip
    rows = read(out)
    idx = load_index(index)
    xb = idx.get(idx.ids)
    xq = SiameseModel.load(model).encode({"name": [n[:-1] + "y" for n in names[:15]]})
    nearest = np.argsort(-(xq @ xb.T), axis=1)[:, :3]
    want = {(str(idx.ids[j]), f"b{q}") for q in range(15) for j in nearest[q]}
    assert {(r["left_id"], r["right_id"]) for r in rows} == want


def test_match_reranked_finds_the_twins(index: Path, names: list[str], tmp_path: Path) -> None:
    b = write_csv(tmp_path / "b.csv", [n[:-1] + "y" for n in names[:15]], "b")
    out = tmp_path / "matches.parquet"
    invoke("match", "--index", str(index), "--catalog", str(b), "--out", str(out), "-k", "5", "--rerank")
    import pyarrow.parquet as pq

    table = pq.read_table(out).to_pydict()
    assert set(table) == {"left_id", "right_id", "distance", "score"}
    assert all(0.0 <= s <= 1.0 for s in table["score"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-rerank", "--threshold", "-1"], "max_distance"),
        (["--rerank", "--threshold", "1.5"], "min_score"),
        (["--threshold", "0.5", "--min-precision", "0.9"], "not both"),
        (["--no-rerank", "--max-distance", "0.1"], "only with --rerank"),
        (["--existing-groups", "{index}/manifest.json"], "--groups FILE"),
        (["-k", "0"], "k"),
    ],
    ids=["negative-distance", "probability-above-one", "two-rules", "max-distance", "no-groups-out", "k"],
)
def test_dedup_bad_options(index: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "pairs.csv"
    args = [a.format(index=index) for a in args]
    text = invoke("dedup", "--index", str(index), "--out", str(out), *args, code=1)
    assert message in text and text.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("out", ["missing_dir/pairs.csv", "pairs.xlsx"], ids=["unwritable", "extension"])
def test_dedup_bad_output(index: Path, tmp_path: Path, out: str) -> None:
    text = invoke("dedup", "--index", str(index), "--out", str(tmp_path / out), code=1)
    assert "Expected" in text and "Received" in text


def test_unknown_index_and_unknown_columns(index: Path, tmp_path: Path) -> None:
    text = invoke("dedup", "--index", str(tmp_path / "nope"), "--out", str(tmp_path / "p.csv"), code=2)
    assert "does not exist" in text
    other = tmp_path / "other.csv"
    other.write_text("id,title\nx1,sony speaker\n")
    text = invoke("match", "--index", str(index), "--catalog", str(other), "--out", str(tmp_path / "m.csv"),
                  code=1)  # fmt: skip
    assert re.search(r"Expected .*name", text)


def test_interrupted_dedup_leaves_no_output(
    index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simsearch.dedup.files as files

    def fail(columns: object, f: Any) -> None:
        f.write(b"left_id,right_id,distance,score\np1,")  # part-way through
        raise KeyboardInterrupt

    monkeypatch.setitem(files._WRITERS, ".csv", fail)
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(cli, ["dedup", "--index", str(index), "--out", str(out), "--no-rerank"])
    assert result.exit_code != 0
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if "pairs" in p.name]  # nor a temporary file


def test_dedup_says_its_threshold_comes_from_two_catalogue_pairs(
    index: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `model` was trained on pairs across two catalogues (A and B); dedup searches within one.
    out = tmp_path / "pairs.csv"
    with caplog.at_level("WARNING"):
        text = invoke("dedup", "--index", str(index), "--out", str(out), "--min-precision", "0.9")
    assert "held-out precision >= 0.9 (" in text  # then the precision and recall at the threshold
    assert "on pairs across two catalogues: NOT verified on pairs within" in text
    assert any("calibrated on pairs across two catalogues" in r.getMessage() for r in caplog.records)


def test_match_says_where_its_threshold_comes_from(index: Path, names: list[str], tmp_path: Path) -> None:
    b = write_csv(tmp_path / "b.csv", [n[:-1] + "y" for n in names[:15]], "b")
    out = tmp_path / "matches.csv"
    text = invoke("match", "--index", str(index), "--catalog", str(b), "--out", str(out), "--no-rerank")
    assert "calibrated on held-out pairs across two catalogues" in text and "NOT" not in text


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_match_one_to_one(index: Path, names: list[str], tmp_path: Path, method: str) -> None:
    b = write_csv(tmp_path / "b.csv", [n[:-1] + "y" for n in names[:15]], "b")
    out = tmp_path / "matches.csv"
    args = ["--catalog", str(b), "--out", str(out), "--no-rerank", "--threshold", "2", "-k", "5"]
    text = invoke("match", "--index", str(index), *args, "--one-to-one", method)
    rows = read(out)
    assert f"one-to-one ({method})" in text and len(rows) == 15  # every item of B, each A once
    assert len({r["left_id"] for r in rows}) == len({r["right_id"] for r in rows}) == 15


# ---- --where: the catalogue restricted to the items whose metadata pass ------------------------


@pytest.fixture(scope="module")
def shop_index(tmp_path_factory: pytest.TempPathFactory, model: Path, names: list[str]) -> Path:
    """The index of `index`, with a `shop` (a, b or c by row) and a `price` column (kept as text)."""
    root = tmp_path_factory.mktemp("shop_index")
    catalog = names + [n[:-1] + "z" for n in names[:10]]
    source = root / "cat.csv"
    rows = "".join(f"p{i},{n},{'abc'[i % 3]},{i}\n" for i, n in enumerate(catalog))
    source.write_text("id,name,shop,price\n" + rows)
    invoke("build-index", "--model", str(model), "--catalog", str(source), "--index", str(root / "index"))
    return root / "index"


def _in_shop(ids: np.ndarray, shop: str) -> np.ndarray:
    return np.array(["abc"[int(i[1:]) % 3] == shop for i in ids])


def test_dedup_where_joins_only_the_allowed_items(shop_index: Path, tmp_path: Path) -> None:
    out, groups = tmp_path / "pairs.csv", tmp_path / "groups.csv"
    text = invoke("dedup", "--index", str(shop_index), "--out", str(out), "--groups", str(groups),
                  "--no-rerank", "--threshold", "2", "-k", "3", "--where", '{"shop": "b"}')  # fmt: skip
    ids, distance = pair_distances(shop_index)
    allowed = np.flatnonzero(_in_shop(ids, "b"))
    sub = distance[np.ix_(allowed, allowed)] + np.diag(np.full(len(allowed), np.inf))
    nearest = np.argsort(sub, axis=1, kind="stable")[:, :3]
    want = {frozenset((ids[allowed[q]], ids[allowed[j]])) for q in range(len(allowed)) for j in nearest[q]}
    assert {frozenset((r["left_id"], r["right_id"])) for r in read(out)} == want
    assert f"among {len(allowed)} items" in text
    assert sorted(r["id"] for r in read(groups)) == sorted(ids[allowed].tolist())


def test_match_where_finds_only_allowed_items_of_a(
    shop_index: Path, model: Path, names: list[str], tmp_path: Path
) -> None:
    from simsearch.index import load_index
    from simsearch.models.siamese import SiameseModel

    b = write_csv(tmp_path / "b.csv", [n[:-1] + "y" for n in names[:15]], "b")
    out = tmp_path / "matches.csv"
    invoke("match", "--index", str(shop_index), "--catalog", str(b), "--out", str(out), "--no-rerank",
           "--threshold", "2", "-k", "3", "--where", '{"shop": {"$in": ["a", "c"]}}')  # fmt: skip
    idx = load_index(shop_index)
    keep = ~_in_shop(idx.ids, "b")
    xb, ids = idx.get(idx.ids)[keep], idx.ids[keep]
    xq = SiameseModel.load(model).encode({"name": [n[:-1] + "y" for n in names[:15]]})
    nearest = np.argsort(-(xq @ xb.T), axis=1, kind="stable")[:, :3]
    want = {(str(ids[j]), f"b{q}") for q in range(15) for j in nearest[q]}
    assert {(r["left_id"], r["right_id"]) for r in read(out)} == want


def test_query_where_returns_the_filtered_top_k(shop_index: Path) -> None:
    where = '{"$or": [{"shop": "c"}, {"price": {"$in": ["1", "7"]}}]}'
    text = invoke("query", "--index", str(shop_index), "--id", "p4", "-k", "5", "--rerank", "0",
                  "--json", "--where", where)  # fmt: skip
    ids, distance = pair_distances(shop_index)
    keep = np.flatnonzero(_in_shop(ids, "c") | np.isin(ids, ["p1", "p7"]))
    keep = keep[ids[keep] != "p4"]
    want = ids[keep[np.argsort(distance[ids.tolist().index("p4"), keep], kind="stable")[:5]]].tolist()
    hits = json.loads(text)["hits"]
    assert [h["id"] for h in hits] == want
    assert all(h["metadata"]["shop"] == "c" or h["metadata"]["price"] in ("1", "7") for h in hits)


@pytest.mark.parametrize(
    ("command", "where", "message"),
    [
        ("query", '{"price": {"$lt": 3}}', "Expected $lt on a field of numbers. Received: field 'price'"),
        ("query", '{"shoop": "a"}', "Received: 'shoop'"),
        ("query", '{"shop": {"$in": "a"}}', "Expected a list for $in of field 'shop'"),
        ("query", "shop=a", "Expected --where as a JSON object. Received: 'shop=a'"),
        ("dedup", '{"shoop": "a"}', "Received: 'shoop'"),
        ("dedup", '{"shop": {"$regex": "a"}}', "'$regex'"),
    ],
    ids=["lt-on-text", "unknown-field", "in-not-a-list", "not-json", "dedup-unknown-field", "dedup-operator"],
)
def test_bad_where_is_one_line(
    shop_index: Path, tmp_path: Path, command: str, where: str, message: str
) -> None:
    args = ["--id", "p1"] if command == "query" else ["--out", str(tmp_path / "p.csv"), "--no-rerank"]
    text = invoke(command, "--index", str(shop_index), *args, "--where", where, code=1)
    assert message in text and text.count("\n") == 1 and "Traceback" not in text
