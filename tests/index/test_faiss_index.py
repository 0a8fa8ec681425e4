"""The index contract, run over every index kind x metric; then settings and defaults.

Oracle: numpy brute force on the seeded clustered synthetic data. Flat must match it exactly (ties
aside); approximate kinds must reach their recall@10 at the default `SearchParams`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.errors import ConfigError, DataError, NotBuiltError
from simsearch.index import (
    FaissIndex,
    IndexConfig,
    SearchParams,
    default_factory,
    load_index,
    make_synthetic,
    read_manifest,
    save_index,
)

from .oracle import DIM, NQ, N, brute_force, recall


@dataclass(frozen=True)
class Kind:
    exact: bool  # results equal brute force
    min_recall: float  # recall@10 at the default SearchParams
    exact_codes: bool  # reported distances are the true ones for the items found


KINDS = {
    "Flat": Kind(exact=True, min_recall=1.0, exact_codes=True),
    "IVF256,Flat": Kind(exact=False, min_recall=0.95, exact_codes=True),
    "IVF256,PQ16": Kind(exact=False, min_recall=0.80, exact_codes=False),
    "HNSW32": Kind(exact=False, min_recall=0.95, exact_codes=True),
}
CASES = [pytest.param(f, m, id=f"{f}-{m}") for f in KINDS for m in ("cosine", "l2")]
TOL = 1e-5  # float32 distances against float64 brute force (errors seen: ~3e-7)

_BUILT: dict[tuple[str, str, str], FaissIndex] = {}


def make_ids(n: int, id_type: str, start: int = 0) -> npt.NDArray[Any]:
    if id_type == "str":
        return np.array([f"item-{i:05d}" for i in range(start, start + n)], dtype=object)
    return 1000 + 7 * np.arange(start, start + n, dtype=np.int64)


def more_rows(m: int) -> npt.NDArray[np.float32]:
    """Return `m` new rows from the clusters of the `synthetic` fixture."""
    return make_synthetic(N, DIM, nq=NQ + m, seed=0)[1][NQ:]


def built(factory: str, metric: str, synthetic: Any, id_type: str = "str") -> FaissIndex:
    """Return a fresh copy of the index of `synthetic` (built once per module and kind)."""
    key = (factory, metric, id_type)
    if key not in _BUILT:
        xb, _ = synthetic
        meta = [{"row": i} for i in range(len(xb))]
        config = IndexConfig(metric=metric, factory=factory)
        _BUILT[key] = FaissIndex(config).build(xb, make_ids(len(xb), id_type), meta)
    return copy.deepcopy(_BUILT[key])


def true_distances(dist: npt.NDArray, ids: npt.NDArray, found: npt.NDArray) -> npt.NDArray:
    """Brute-force distances of the ids found, by row."""
    row_of = {v: i for i, v in enumerate(ids.tolist())}
    cols = np.vectorize(lambda v: row_of[v], otypes=[np.int64])(found)
    return np.take_along_axis(dist, cols, axis=1)


def check_knn(index: FaissIndex, xb: npt.NDArray, ids: npt.NDArray, xq: npt.NDArray, k: int = 10) -> None:
    """Check `index.search` against brute force over `(xb, ids)` for the index's kind."""
    kind = KINDS[index.factory_]
    D, found = index.search(xq, k)
    assert D.shape == found.shape == (len(xq), k) and D.dtype == np.float32
    assert np.isfinite(D).all() and (np.diff(D, axis=1) >= 0).all()
    dist = brute_force(xb, xq, index.metric)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    expected = ids[order]
    if kind.exact:  # the same ids and distances, but for ids swapped at (float32) ties
        expected_d = np.take_along_axis(dist, order, axis=1)
        np.testing.assert_allclose(D, expected_d, atol=TOL)
        swapped = found != expected
        assert swapped.mean() < 0.01
        assert (np.abs(true_distances(dist, ids, found) - expected_d)[swapped] <= TOL).all()
    else:
        assert recall(found, expected) >= kind.min_recall
    if kind.exact_codes:
        np.testing.assert_allclose(D, true_distances(dist, ids, found), atol=TOL)


# ---- the contract ----------------------------------------------------------------------------


@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_search_matches_brute_force(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    check_knn(built(factory, metric, synthetic), xb, make_ids(N, "str"), xq)


@pytest.mark.parametrize("id_type", ["str", "int"])
@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_ids_and_embeddings_are_preserved(factory: str, metric: str, id_type: str, synthetic: Any) -> None:
    xb, _ = synthetic
    ids = make_ids(N, id_type)
    index = built(factory, metric, synthetic, id_type)
    assert len(index) == N and index.ids.tolist() == ids.tolist() and ids[7] in index
    np.testing.assert_array_equal(index.get(ids[[5, 0, 5]]), xb[[5, 0, 5]])
    assert index.metadata(ids[[3, 1]]) == [{"row": 3}, {"row": 1}]
    D, found = index.search(xb[:20], 10)
    assert found.dtype == (np.int64 if id_type == "int" else object)
    if KINDS[factory].exact_codes:
        assert found[:, 0].tolist() == ids[:20].tolist()
        np.testing.assert_allclose(D[:, 0], 0.0, atol=1e-3)
    else:
        assert np.mean([ids[i] in found[i] for i in range(20)]) >= 0.9


@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_add_appends_without_rebuilding(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    index = built(factory, metric, synthetic)
    faiss_index = index.index_
    new = more_rows(50)
    new_ids = make_ids(50, "str", start=N)
    index.add(new, new_ids, metadata=[{"new": i} for i in range(50)])
    assert index.index_ is faiss_index and len(index) == N + 50
    np.testing.assert_array_equal(index.get(new_ids), new)
    assert index.metadata(new_ids[:2]) == [{"new": 0}, {"new": 1}]
    all_ids = np.concatenate([make_ids(N, "str"), new_ids])
    check_knn(index, np.vstack([xb, new]), all_ids, np.vstack([xq, new]))


@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_deleted_ids_are_never_returned(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    ids = make_ids(N, "str")
    index = built(factory, metric, synthetic)
    _, found = index.search(xq, 10)
    gone = sorted(set(found[:, :5].ravel().tolist()))  # the nearest items of every query
    index.delete(gone)
    assert len(index) == N - len(gone) and index.n_tombstones == len(gone)
    keep = ~np.isin(ids, gone)
    found = index.search(xq, 10).ids
    assert not set(found.ravel().tolist()) & set(gone)
    check_knn(index, xb[keep], ids[keep], xq)
    everything = index.search(xq[:3], N)  # k > live items: the rest are empty slots
    assert (everything.ids[:, len(index):] == None).all()  # noqa: E711
    assert np.isinf(everything.distances[:, len(index):]).all()
    assert not set(everything.ids[:, : len(index)].ravel().tolist()) & set(gone)


@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_compaction_drops_tombstones(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    ids = make_ids(N, "int")
    index = built(factory, metric, synthetic, "int")
    index.delete(ids[: N // 2])  # past max_tombstones: compacts
    assert index.n_tombstones == 0 and index.index_.ntotal == len(index) == N - N // 2
    check_knn(index, xb[N // 2 :], ids[N // 2 :], xq)
    np.testing.assert_array_equal(index.get(ids[-3:]), xb[-3:])
    index.add(xb[:5], ids[:5])
    assert index.search(xb[:5], 1).ids[:, 0].tolist() == ids[:5].tolist() or not KINDS[factory].exact_codes


@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_upsert_replaces_the_vector(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    ids = make_ids(N, "str")
    index = built(factory, metric, synthetic)
    new = more_rows(10)
    both = np.concatenate([ids[:8], make_ids(2, "str", start=N)])  # 8 replaced, 2 added
    index.upsert(new, both)
    assert len(index) == N + 2 and index.n_tombstones == 8
    np.testing.assert_array_equal(index.get(both), new)
    assert index.metadata(both[:2]) == [{"row": 0}, {"row": 1}]  # kept when not given
    xb2, ids2 = np.vstack([xb[8:], new]), np.concatenate([ids[8:], both])
    check_knn(index, xb2, ids2, np.vstack([xq, xb[:8], new]))
    index.upsert(new[:1], both[:1], metadata=[{"v": 2}])
    assert index.metadata(both[:1]) == [{"v": 2}]


@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_range_search_matches_brute_force(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    ids = make_ids(N, "str")
    index = built(factory, metric, synthetic)
    index.delete(ids[::10])
    keep = np.ones(N, bool)
    keep[::10] = False
    dist = brute_force(xb[keep], xq, metric)
    radius = float(np.median(np.sort(dist, axis=1)[:, 30]))
    results = index.range_search(xq, radius)
    assert len(results) == NQ
    hits, wanted = 0, 0
    for row, (d_q, ids_q) in zip(dist, results, strict=True):
        assert (np.diff(d_q) >= 0).all() and (d_q <= radius).all()
        expected = set(ids[keep][row <= radius - TOL].tolist())
        allowed = set(ids[keep][row <= radius + TOL].tolist())
        got = set(ids_q.tolist())
        if KINDS[factory].exact:
            assert expected <= got <= allowed
        elif KINDS[factory].exact_codes:
            assert got <= allowed
        hits, wanted = hits + len(expected & got), wanted + len(expected)
    assert hits / wanted >= KINDS[factory].min_recall - 0.05


@pytest.mark.parametrize("id_type", ["str", "int"])
@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_save_and_load_round_trip(
    factory: str, metric: str, id_type: str, synthetic: Any, tmp_path: Path
) -> None:
    xb, xq = synthetic
    ids = make_ids(N, id_type)
    index = built(factory, metric, synthetic, id_type)
    index.delete(ids[:100])
    index.add(xb[:3] * 2, make_ids(3, id_type, start=N), metadata=[None, {"é": [1, 2]}, "text"])
    save_index(tmp_path / "ix", index, {"model": "models/m", "threshold": 0.3})
    loaded = load_index(tmp_path / "ix")
    before, after = index.search(xq, 10), loaded.search(xq, 10)
    np.testing.assert_array_equal(after.distances, before.distances)
    np.testing.assert_array_equal(after.ids, before.ids)
    assert after.ids.dtype == before.ids.dtype
    assert loaded.ids.tolist() == index.ids.tolist() and loaded.n_tombstones == 100
    assert loaded.metadata(make_ids(3, id_type, start=N)) == [None, {"é": [1, 2]}, "text"]
    np.testing.assert_array_equal(loaded.get(ids[100:110]), xb[100:110])
    assert (loaded.factory_, loaded.config) == (index.factory_, index.config)
    manifest = read_manifest(tmp_path / "ix")
    assert manifest["extra"] == {"model": "models/m", "threshold": 0.3}
    assert (manifest["count"], manifest["ntotal"], manifest["dim"]) == (N - 97, N + 3, DIM)
    assert (manifest["metric"], manifest["factory"], manifest["kind"]) == (metric, factory, index.kind)
    loaded.delete(ids[100 : N // 2])  # compacts a loaded index (its training is reused)
    assert loaded.n_tombstones == 0
    check_knn(loaded, np.vstack([xb[N // 2 :], xb[:3] * 2]),
              np.concatenate([ids[N // 2 :], make_ids(3, id_type, start=N)]), xq)


# ---- bad input: a DataError naming the problem, and nothing changed ----------------------------


def _snapshot(index: FaissIndex, xq: npt.NDArray) -> tuple[Any, ...]:
    res = index.search(xq[:5], 5)
    return len(index), index.n_tombstones, index.index_.ntotal, res.ids.tolist(), res.distances.tolist()


def _with_nan_row(xb: npt.NDArray, row: int) -> npt.NDArray:
    out = xb.copy()
    out[row, 3] = np.nan
    return out


BAD_CALLS = {
    "build-empty": (lambda ix, xb: ix.build(xb[:0], []), "non-empty catalogue"),
    "build-wrong-rank": (lambda ix, xb: ix.build(xb[0], ["a"]), r"shape \(n, d\)"),
    "build-nan": (lambda ix, xb: ix.build(_with_nan_row(xb, 9), make_ids(N, "str")), r"finite.*first \[9\]"),
    "build-duplicate-ids": (lambda ix, xb: ix.build(xb[:3], ["a", "b", "a"]), r"unique.*\['a'\]"),
    "build-ids-length": (lambda ix, xb: ix.build(xb[:3], ["a", "b"]), "one id per row: 3 ids. Received: 2"),
    "build-mixed-ids": (lambda ix, xb: ix.build(xb[:2], ["a", 1]), "all str or all int"),
    "build-negative-id": (lambda ix, xb: ix.build(xb[:2], [0, -1]), ">= 0"),
    "build-metadata-length": (lambda ix, xb: ix.build(xb[:2], ["a", "b"], [{}]), "one metadata entry"),
    "add-wrong-dim": (lambda ix, xb: ix.add(xb[:2, :-1], ["x", "y"]), r"shape \(n, 32\).*\(2, 31\)"),
    "add-inf": (lambda ix, xb: ix.add(np.full((1, DIM), np.inf), ["x"]), "finite"),
    "add-existing-id": (lambda ix, xb: ix.add(xb[:2], ["new", "item-00001"]), r"not in the index.*00001"),
    "add-duplicate-ids": (lambda ix, xb: ix.add(xb[:2], ["x", "x"]), "unique"),
    "add-ids-length": (lambda ix, xb: ix.add(xb[:2], ["x"]), "one id per row"),
    "add-int-ids-to-str-index": (lambda ix, xb: ix.add(xb[:1], [5]), "Expected str ids"),
    "add-not-json": (lambda ix, xb: ix.add(xb[:1], ["x"], [{1, 2}]), "JSON"),
    "upsert-wrong-dim": (lambda ix, xb: ix.upsert(xb[:1, :5], ["item-00001"]), r"shape \(n, 32\)"),
    "upsert-nan": (lambda ix, xb: ix.upsert(np.full((1, DIM), np.nan), ["item-00001"]), "finite"),
    "upsert-duplicate-ids": (lambda ix, xb: ix.upsert(xb[:2], ["item-00001"] * 2), "unique"),
    "delete-unknown": (lambda ix, xb: ix.delete(["item-00002", "nope"]), r"1 unknown, first \['nope'\]"),
    "delete-duplicates": (lambda ix, xb: ix.delete(["item-00002", "item-00002"]), "unique"),
    "delete-one-string": (lambda ix, xb: ix.delete("item-00002"), "sequence of ids"),
    "get-unknown": (lambda ix, xb: ix.get(["nope"]), "nope"),
    "search-k-zero": (lambda ix, xb: ix.search(xb[:2], 0), "k to be a positive integer. Received: k=0"),
    "search-k-negative": (lambda ix, xb: ix.search(xb[:2], -3), "k=-3"),
    "search-k-float": (lambda ix, xb: ix.search(xb[:2], 2.0), "k=2.0"),
    "search-wrong-dim": (lambda ix, xb: ix.search(xb[:2, :8], 3), r"xq of shape \(n, 32\)"),
    "search-1d": (lambda ix, xb: ix.search(xb[0], 3), r"xq of shape"),
    "search-nan": (lambda ix, xb: ix.search(np.full((2, DIM), np.nan), 3), "finite"),
    "range-negative-radius": (lambda ix, xb: ix.range_search(xb[:2], -0.1), "radius"),
    "range-nan-radius": (lambda ix, xb: ix.range_search(xb[:2], float("nan")), "radius"),
}


@pytest.mark.parametrize("call", BAD_CALLS, ids=list(BAD_CALLS))
@pytest.mark.parametrize(("factory", "metric"), CASES)
def test_bad_input_raises_and_changes_nothing(factory: str, metric: str, call: str, synthetic: Any) -> None:
    xb, xq = synthetic
    index = built(factory, metric, synthetic)
    index.delete(["item-00000"])  # tombstones too must survive a refused call
    before = _snapshot(index, xq)
    operation, message = BAD_CALLS[call]
    with pytest.raises(DataError, match=message):
        operation(index, xb)
    assert _snapshot(index, xq) == before


@pytest.mark.parametrize(("factory", "metric"), [c for c in CASES if c.values[1] == "cosine"])
def test_cosine_refuses_zero_vectors(factory: str, metric: str, synthetic: Any) -> None:
    xb, xq = synthetic
    index = built(factory, metric, synthetic)
    before = _snapshot(index, xq)
    with pytest.raises(DataError, match=r"non-zero rows in xb.*first \[1\]"):
        index.add(np.vstack([xb[:1], np.zeros((1, DIM))]), ["x", "y"])
    with pytest.raises(DataError, match="non-zero rows in xq"):
        index.search(np.zeros((1, DIM)), 3)
    assert _snapshot(index, xq) == before


# ---- settings, defaults and query-time parameters ------------------------------------------


@pytest.mark.parametrize("factory", ["IVF256,Flat", "HNSW32"])
def test_query_parameters_are_passed_at_search_time(factory: str, synthetic: Any) -> None:
    xb, xq = synthetic
    index = built(factory, "l2", synthetic)
    expected = make_ids(N, "str")[np.argsort(brute_force(xb, xq, "l2"), axis=1)[:, :10]]
    low = SearchParams(nprobe=1, ef_search=1)
    assert recall(index.search(xq, 10, low).ids, expected) < recall(index.search(xq, 10).ids, expected)
    faiss_index = index.index_
    if factory.startswith("IVF"):
        assert faiss_index.nprobe == 1  # FAISS's own default: nothing baked in
    else:
        assert faiss_index.hnsw.efSearch == 16
        assert faiss_index.hnsw.efConstruction == 100  # a build setting, from IndexConfig


def test_default_factory_is_exact_below_100k_and_ivf_above() -> None:
    assert default_factory(99_999, 128) == "Flat"
    assert default_factory(100_000, 128) == "IVF1265,Flat"
    assert default_factory(1_000_000, 128) == "IVF4000,Flat"
    assert default_factory(20_000, 768) == "IVF566,Flat"  # the budget is n * d


def test_the_chosen_factory_is_recorded(synthetic: Any) -> None:
    xb, _ = synthetic
    index = FaissIndex().build(xb, make_ids(N, "int"))
    assert index.factory_ == "Flat" and index.kind == "IndexFlatIP" and index.config.factory is None
    assert repr(index) == "FaissIndex(metric='cosine', factory='Flat', items=4000)"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"metric": "dot"}, r"metric in \('cosine', 'l2'\). Received: metric='dot'"),
        ({"max_tombstones": 0.0}, "max_tombstones"),
        ({"train_size": 0}, "train_size"),
        ({"factory": ""}, "factory string"),
        ({"ef_construction": 0}, "ef_construction"),
    ],
)
def test_bad_settings_raise_config_error(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IndexConfig(**settings)


@pytest.mark.parametrize("factory", ["Bogus42", "IVF16,PQ7", "IDMap,Flat", "HNSW16,PQ8", "LSH"])
def test_factory_strings_faiss_refuses_raise_config_error(factory: str, synthetic: Any) -> None:
    xb, _ = synthetic  # FAISS builds HNSW16,PQ8 and LSH for L2 only, whatever the metric asked
    with pytest.raises(ConfigError, match=factory):
        FaissIndex(IndexConfig(factory=factory, metric="cosine")).build(xb[:100], make_ids(100, "int"))


def test_too_few_rows_to_train_is_a_data_error(synthetic: Any) -> None:
    xb, _ = synthetic
    with pytest.raises(DataError, match="enough embeddings to train"):
        FaissIndex(IndexConfig(factory="IVF256,Flat")).build(xb[:100], make_ids(100, "int"))


@pytest.mark.parametrize("nprobe", [0, -1, True, 2.5])
def test_bad_search_params_raise_config_error(nprobe: Any, synthetic: Any) -> None:
    with pytest.raises(ConfigError, match="nprobe"):
        SearchParams(nprobe=nprobe)
    with pytest.raises(ConfigError, match=r"SearchParams\. Received: dict"):
        built("Flat", "l2", synthetic).search(synthetic[1], 3, params={"nprobe": 4})  # type: ignore[arg-type]


def test_an_unbuilt_index_says_so(synthetic: Any) -> None:
    _, xq = synthetic
    index = FaissIndex()
    assert len(index) == 0 and "x" not in index
    with pytest.raises(NotBuiltError, match=r"build\(xb, ids\)"):
        index.search(xq, 3)
    with pytest.raises(NotBuiltError):
        index.add(xq, make_ids(NQ, "int"))


def test_emptied_index_returns_empty_slots(synthetic: Any) -> None:
    xb, xq = synthetic
    index = FaissIndex(IndexConfig(factory="IVF16,Flat", metric="l2")).build(xb[:500], make_ids(500, "int"))
    index.delete(make_ids(500, "int"))
    assert len(index) == 0
    res = index.search(xq[:2], 3)
    assert (res.ids == -1).all() and np.isinf(res.distances).all()
    assert [len(r.ids) for r in index.range_search(xq[:2], 10.0)] == [0, 0]
    index.add(xb[:20], make_ids(20, "int"))  # the kept training still serves
    assert index.search(xb[:1], 1).ids[0, 0] == make_ids(1, "int")[0]


def test_kinds_without_search_parameters_filter_after_search(synthetic: Any) -> None:
    xb, xq = synthetic
    ids = make_ids(N, "int")
    index = FaissIndex(IndexConfig(factory="PQ8", metric="l2")).build(xb, ids)
    _, found = index.search(xq, 10)
    gone = sorted(set(found[:, :3].ravel().tolist()))
    index.delete(gone)
    assert index.n_tombstones == len(gone)
    D, found = index.search(xq, 10)
    assert np.isfinite(D).all() and not set(found.ravel().tolist()) & set(gone)
    D, found = index.search(xq[:2], N + 5)  # more than the index holds
    assert D.shape == (2, N + 5) and np.isfinite(D).sum(axis=1).tolist() == [len(index)] * 2
    assert not set(found.ravel().tolist()) & set(gone)


OTHER_FACTORIES = ["PCA16,IVF16,Flat", "IVF16,Flat,Refine(Flat)", "IVF16,PQ8x4fs", "HNSW16,SQ8"]


@pytest.mark.parametrize("factory", OTHER_FACTORIES)
def test_wrapped_and_other_factories_keep_the_core_contract(
    factory: str, synthetic: Any, tmp_path: Path
) -> None:
    """Pre-transforms, refinement, fast-scan and SQ storage: nested SearchParameters reach the index."""
    xb, xq = synthetic
    ids = make_ids(1500, "str")
    index = FaissIndex(IndexConfig(factory=factory)).build(xb[:1500], ids)
    gone = sorted(set(index.search(xq, 10).ids[:, :3].ravel().tolist()))
    index.delete(gone)
    D, found = index.search(xq, 10)
    assert np.isfinite(D).all() and not set(found.ravel().tolist()) & set(gone)
    assert all(not set(r.ids.tolist()) & set(gone) for r in index.range_search(xq, 0.2))
    save_index(tmp_path / "ix", index)
    np.testing.assert_array_equal(load_index(tmp_path / "ix").search(xq, 10).ids, found)
