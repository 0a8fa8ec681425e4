"""docs/recipes/text_pairs.md, run on a slice of the real MRPC corpus."""

from __future__ import annotations

import csv
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
