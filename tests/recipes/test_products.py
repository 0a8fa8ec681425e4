"""docs/recipes/products.md, run on a slice of the real Abt-Buy split."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from ._docs import SHARED, recipe_block, run_block, shrink

ABT_BUY = SHARED / "product_matching" / "deepmatcher" / "Abt-Buy"
pytestmark = pytest.mark.skipif(
    not ABT_BUY.is_dir(), reason="needs ../shared/data/product_matching (not in a fresh clone)"
)


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _slice(source: Path, target: Path, n: int) -> list[dict[str, str]]:
    """The first n rows, keeping the header."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows[: n + 1])
    return _rows(target)


@pytest.mark.slow  # a recipe end to end on real data (1-5 min on 2 cores); its steps are unit-tested
def test_products_recipe_runs_as_documented(tmp_path: Path) -> None:
    data = tmp_path / "abt-buy"
    data.mkdir()
    for table in ("tableA.csv", "tableB.csv"):
        shutil.copy(ABT_BUY / table, data / table)
    _slice(ABT_BUY / "train.csv", data / "train.csv", 400)
    _slice(ABT_BUY / "valid.csv", data / "valid.csv", 200)
    test = _slice(ABT_BUY / "test.csv", data / "test.csv", 200)

    out = run_block(shrink(recipe_block("products.md"), {"DATA": str(data)}), tmp_path)

    report = json.loads((tmp_path / "runs/products/report.json").read_text())
    tower = report["pairs (tower distance)"]
    assert (tower["n_pairs"], tower["n_positive"]) == (len(test), sum(r["label"] == "1" for r in test))
    assert 0.0 <= tower["f1"] <= 1.0
    # The query is item 0's own name: even a barely trained tower (TF-IDF cosine at start) finds it first.
    hits = re.findall(r"^\s+\d+\s+(\S+)\s+\d+\.\d+", out, flags=re.M)
    assert len(hits) == 3 and hits[0] == "0"
    a_ids = {r["id"] for r in _rows(data / "tableA.csv")}
    b_ids = {r["id"] for r in _rows(data / "tableB.csv")}
    matches = _rows(tmp_path / "runs/products/matches.csv")
    assert matches and all(m["left_id"] in a_ids and m["right_id"] in b_ids for m in matches)
    groups = _rows(tmp_path / "runs/products/groups.csv")
    assert {g["id"] for g in groups} == a_ids
    duplicates = _rows(tmp_path / "runs/products/duplicates.csv")
    assert all(
        d["left_id"] in a_ids and d["right_id"] in a_ids and d["left_id"] != d["right_id"] for d in duplicates
    )


@pytest.mark.slow
def test_lm_record_recipe_runs_as_documented(tmp_path: Path) -> None:
    """The language-model block on a slice, with a tiny random BERT in place of MiniLM and one
    short epoch: it trains, chooses among the TF-IDF baseline, the untrained and the trained
    encoder on the held-out pairs, and evaluates the test pairs."""
    pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")
    from tests.models.test_pretrained import write_tiny_bert

    data = tmp_path / "abt-buy"
    data.mkdir()
    for table in ("tableA.csv", "tableB.csv"):
        shutil.copy(ABT_BUY / table, data / table)
    _slice(ABT_BUY / "train.csv", data / "train.csv", 300)
    _slice(ABT_BUY / "valid.csv", data / "valid.csv", 150)
    test = _slice(ABT_BUY / "test.csv", data / "test.csv", 100)
    write_tiny_bert(tmp_path / "tiny_bert")

    script = recipe_block("products.md", "recipe-lm-test")
    script = shrink(script, {"DATA": str(data), "ENCODER": str(tmp_path / "tiny_bert")})
    short = "--epochs 1 --steps-per-epoch 2 --out models/abt-buy-lm"
    script = script.replace("--out models/abt-buy-lm", short, 1)
    out = run_block(script, tmp_path)

    assert "Saved lm_record model" in out
    config = json.loads((tmp_path / "models/abt-buy-lm/config.json").read_text())
    chosen = config["validation"]["chosen"]
    assert chosen in ("baseline", "initial", "trained")
    # A random tiny BERT does not beat TF-IDF significantly: small data keeps the baseline.
    assert chosen == "baseline" and config["tower_settings"]["architecture"] == "linear"
    report = json.loads((tmp_path / "runs/products/report-lm.json").read_text())
    tower = report["pairs (tower distance)"]
    assert (tower["n_pairs"], tower["n_positive"]) == (len(test), sum(r["label"] == "1" for r in test))
