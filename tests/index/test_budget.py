"""`build_for_budget`: the index kind and query settings chosen for a recall target, measured
against numpy brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.index import FaissIndex, IndexConfig, SearchParams, load_index, save_index
from simsearch.index.budget import Budget, build_for_budget, candidates, estimate_memory

from .oracle import brute_force, recall

K = 10


@pytest.fixture(scope="module")
def built(
    synthetic: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> tuple[FaissIndex, object, npt.NDArray[np.float32]]:
    xb, _ = synthetic
    ids = np.array([f"item-{i}" for i in range(len(xb))], dtype=object)
    budget = Budget(target_recall=0.9, n_queries=200, seed=3)
    index, choice = build_for_budget(xb, ids, config=IndexConfig(metric="cosine"), budget=budget)
    return index, choice, xb


def test_every_item_is_indexed_and_searches_agree_with_brute_force(
    built: tuple[FaissIndex, object, npt.NDArray[np.float32]],
    synthetic: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    index, _, xb = built
    _, xq = synthetic
    assert len(index) == len(xb) and sorted(index.ids.tolist()) == sorted(f"item-{i}" for i in range(len(xb)))
    np.testing.assert_array_equal(index.get([f"item-{i}" for i in range(5)]), xb[:5])  # ids kept with rows
    expected = np.argsort(brute_force(xb, xq, "cosine"), axis=1, kind="stable")[:, :K]
    found = np.vectorize(lambda v: int(v.split("-")[1]))(index.search(xq, K).ids)  # the defaults chosen
    assert recall(found, expected) >= 0.9 - 0.05  # fresh queries: about the target measured


def test_reported_recall_is_the_recall_recomputed(
    built: tuple[FaissIndex, object, npt.NDArray[np.float32]],
) -> None:
    """Rebuild the chosen kind over the rows that were not held out, search the held-out rows with
    the chosen settings, and compare with numpy brute force: the recall the choice reports."""
    index, choice, xb = built
    trial = choice.trial  # type: ignore[attr-defined]
    held = np.array(choice.held_out)  # type: ignore[attr-defined]
    base = np.setdiff1d(np.arange(len(xb)), held)
    again = FaissIndex(IndexConfig(metric="cosine", factory=trial.factory)).build(xb[base], base)
    found = again.search(xb[held], K, SearchParams(**trial.params)).ids
    expected = base[np.argsort(brute_force(xb[base], xb[held], "cosine"), axis=1, kind="stable")[:, :K]]
    assert recall(found, expected) == pytest.approx(trial.recall, abs=0.01)
    assert trial.recall_low >= 0.9 and trial.recall >= trial.recall_low and trial.reached
    assert index.factory_ == trial.factory and index.search_defaults == SearchParams(**trial.params)


def test_the_fastest_kind_that_reaches_the_target_is_chosen(
    built: tuple[FaissIndex, object, npt.NDArray[np.float32]],
) -> None:
    _, choice, _ = built
    trials = choice.trials  # type: ignore[attr-defined]
    reached = [t for t in trials if t.reached]
    assert choice.trial in reached  # type: ignore[attr-defined]
    fastest = min(t.ms_per_query for t in reached)
    assert choice.trial.ms_per_query <= fastest * 1.1 + 1e-9  # type: ignore[attr-defined]
    assert [t.factory.split(",")[0] for t in trials][:3] == [
        "Flat",
        trials[1].factory.split(",")[0],
        "HNSW32",
    ]


def test_choice_and_settings_survive_a_save_and_load(
    built: tuple[FaissIndex, object, npt.NDArray[np.float32]], tmp_path: Path
) -> None:
    index, choice, xb = built
    save_index(tmp_path / "idx", index)
    loaded = load_index(tmp_path / "idx")
    assert loaded.search_defaults == index.search_defaults
    assert loaded.tuning == choice.to_dict()  # type: ignore[attr-defined]
    assert loaded.tuning is not None and loaded.tuning["recall_at_10"] == round(choice.trial.recall, 4)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(loaded.search(xb[:20], K).ids, index.search(xb[:20], K).ids)


def test_memory_budget_leaves_out_the_kinds_that_do_not_fit() -> None:
    n, d = 100_000, 128
    floats = n * d * 4
    assert "Flat" in candidates(n, d) and "HNSW32" in candidates(n, d)
    tight = candidates(n, d, max_memory=floats + n * (d + 8) + 1)  # room for SQ8 codes, not a float copy
    assert tight == ["IVF1265,SQ8", "IVF1265,PQ32"]
    refined = candidates(n, d, max_memory=2 * floats + n * (d + 8))
    assert "IVF1265,SQ8,RFlat" in refined and "HNSW32" not in refined
    assert estimate_memory("IVF1265,PQ32,RFlat", n, d) == n * (8 + 32 + 4 * d + 4 * d)


def test_quantised_kinds_refine_with_the_float_vectors(
    built: tuple[FaissIndex, object, npt.NDArray[np.float32]],
) -> None:
    """With room for the float copy, SQ8 re-scores its candidates with it (IndexRefineFlat): its
    recall is IVF-Flat's at the same nprobe, the exact distances of the same lists."""
    _, choice, _ = built
    trials = {t.factory.split(",", 1)[1]: t for t in choice.trials if t.factory.startswith("IVF")}  # type: ignore[attr-defined]
    assert set(trials) == {"Flat", "SQ8,RFlat"}  # 4000 rows: too few to train PQ's codebooks
    flat, sq8 = trials["Flat"], trials["SQ8,RFlat"]
    if sq8.params["nprobe"] == flat.params["nprobe"]:
        assert sq8.recall == pytest.approx(flat.recall, abs=0.01)
    assert sq8.recall >= 0.9


def test_a_tight_budget_takes_the_unrefined_codes(
    synthetic: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    xb, _ = synthetic
    n, d = xb.shape
    memory = estimate_memory("IVF1,SQ8", n, d) + 4096  # the codes fit, a second float copy does not
    budget = Budget(target_recall=0.8, max_memory=memory, n_queries=100)
    index, choice = build_for_budget(xb, np.arange(n), config=IndexConfig(metric="l2"), budget=budget)
    assert [t.factory.split(",", 1)[1] for t in choice.trials] == ["SQ8"]
    assert index.kind == "IndexIVFScalarQuantizer"
    assert choice.trial.recall >= 0.8 and choice.trial.memory_bytes <= memory


def test_errors(synthetic: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> None:
    xb, _ = synthetic
    with pytest.raises(
        DataError, match=r"Expected max_memory of at least 656.2 KiB for 4000 vectors .* Received: 10.0 KiB"
    ):
        build_for_budget(xb, np.arange(len(xb)), budget=Budget(0.9, max_memory=10 * 1024))
    with pytest.raises(DataError, match=r"Expected an index reaching recall@10 >= 1 .*Received: at best"):
        small = estimate_memory("IVF1,SQ8", *xb.shape) + 1  # only SQ8 without refinement fits
        build_for_budget(xb, np.arange(len(xb)), budget=Budget(1.0, max_memory=small, n_queries=50))
    with pytest.raises(DataError, match="Expected at least 20 rows"):
        build_for_budget(xb[:10], np.arange(10), budget=Budget(0.9))
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="Expected a target recall in"):
            Budget(bad)
    with pytest.raises(ConfigError, match=r"Expected kinds among .* Received: \['IVFPQ'\]"):
        Budget(0.9, kinds=("IVF", "IVFPQ"))


def test_kinds_name_the_families_tried() -> None:
    assert candidates(100_000, 128, kinds=("IVF", "PQ")) == ["IVF1265,Flat", "IVF1265,PQ32,RFlat"]
    assert candidates(100_000, 128, kinds=("Flat", "HNSW")) == ["Flat", "HNSW32"]
