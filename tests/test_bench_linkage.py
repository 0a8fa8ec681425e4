"""Dedup and match on a real slice of Abt-Buy (DeepMatcher): the tasks `benchmarks/bench_linkage.py`
builds, and simsearch's defaults through the CLI never below the TF-IDF threshold baseline run the
same way on the same slice. Needs ../shared/data/product_matching (not in a fresh clone)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks import bench_linkage

pytestmark = pytest.mark.skipif(
    not bench_linkage.DATA_ROOT.is_dir(),
    reason=f"needs the DeepMatcher sets at {bench_linkage.DATA_ROOT} (not in a fresh clone)",
)
SET = "Abt-Buy"
ENTITIES = 150  # as --quick: ~430 items, ~640 training pairs (a held-out split, not 5-fold CV)


@pytest.fixture(scope="module")
def tasks() -> bench_linkage.LinkageTasks:
    return bench_linkage.load_tasks(bench_linkage.DATA_ROOT / SET, ENTITIES)


def _matches() -> set[tuple[str, str]]:
    folder = bench_linkage.DATA_ROOT / SET
    return {
        ("a" + r["left_id"], "b" + r["right_id"])
        for split in ("train", "valid", "test")
        for r in bench_linkage.read_rows(folder / f"{split}.csv")
        if r["label"] == "1"
    }


def test_the_real_slice_keeps_training_entities_out_of_the_evaluation(
    tasks: bench_linkage.LinkageTasks,
) -> None:
    matches = _matches()
    train = {r["id"] for r in tasks.dedup.train_catalog}
    test = {r["id"] for r in tasks.dedup.catalog}
    assert not train & test and len(test) > 150
    # no labelled match crosses the split: the entities are whole on one side
    assert not {(a, b) for a, b in matches if (a in train) != (b in train) and {a, b} <= train | test}
    # every labelled match among the evaluation items is a true link of both tasks
    groups = {r["id"]: r["group"] for r in tasks.dedup.truth}
    assert all(groups[a] == groups[b] for a, b in matches if a in test and b in test)
    truth = {("a" + r["left_id"], "b" + r["right_id"]) for r in tasks.match.truth}
    assert {(a, b) for a, b in matches if a in test} <= truth
    positives = {(r["left_id"], r["right_id"]) for r in tasks.dedup.train_pairs if r["label"] == "1"}
    assert {(a, b) for a, b in matches if a in train} <= {tuple(sorted(p)) for p in positives}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dedup", "match"])
def test_defaults_reach_the_tfidf_baseline(
    tasks: bench_linkage.LinkageTasks, kind: str, tmp_path: Path
) -> None:
    fields = bench_linkage.FIELDS[SET]
    if kind == "dedup":
        files = bench_linkage.write_dedup(tasks.dedup, tmp_path)
        ours = bench_linkage.simsearch_dedup(files, fields, tmp_path / "simsearch")
        baseline = bench_linkage.tfidf_run(kind, tasks.dedup, fields, files["truth"], tmp_path / "tfidf")
    else:
        files = bench_linkage.write_match(tasks.match, tmp_path)
        ours = bench_linkage.simsearch_match(files, fields, tmp_path / "simsearch")
        baseline = bench_linkage.tfidf_run(kind, tasks.match, fields, files["truth"], tmp_path / "tfidf")
    assert ours["pairs"]["f1"] >= baseline["pairs"]["f1"], (ours, baseline)
