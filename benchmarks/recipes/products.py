"""Recipe: duplicate products on the DeepMatcher splits (docs/recipes/products.md).

Runs the recipe's commands (train → evaluate → build-index → match) per dataset, and the
non-learned baseline the same way (TF-IDF char 2-4-gram cosine, one threshold chosen on
valid.csv; `benchmarks/match_deepmatcher.py`'s implementation).

    .venv/bin/python -m benchmarks.recipes.products --data-root ../shared/data --work runs/recipes
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from benchmarks.match_deepmatcher import FIELDS, PUBLISHED, tfidf_baseline
from benchmarks.recipes._common import evaluate_json, recipe_main, row, simsearch, train_pairs_once

BASELINE = "TF-IDF char 2-4 cosine"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def train(folder: Path, name: str, model: Path, epochs: int, extra: list[str]) -> float | None:
    catalogs = [folder / "tableA.csv", folder / "tableB.csv"]
    return train_pairs_once(
        model, folder, catalogs, epochs, "--tower", "record", "--fields", FIELDS[name], *extra
    )


def blocking_recall(folder: Path, model: Path, work: Path, k: int = 10) -> float:
    """Index tableA, match every tableB item to its k nearest (no threshold): the share of the
    test set's true matches among those candidates."""
    index, candidates = work / "index", work / f"candidates_k{k}.csv"
    simsearch("build-index", "--model", model, "--catalog", folder / "tableA.csv", "--index", index)
    simsearch(
        "match",
        "--index",
        index,
        "--catalog",
        folder / "tableB.csv",
        "--out",
        candidates,
        "--no-rerank",
        "--threshold",
        "2.0",
        "-k",
        str(k),
    )
    found = {(r["left_id"], r["right_id"]) for r in _rows(candidates)}
    matches = [(r["left_id"], r["right_id"]) for r in _rows(folder / "test.csv") if r["label"] == "1"]
    return sum(m in found for m in matches) / len(matches)


def run(
    data_root: Path,
    work_dir: Path,
    budget_minutes: float = 45.0,
    *,
    datasets: tuple[str, ...] = tuple(FIELDS),
    extra_train_args: list[str] | None = None,
    variant: str = "linear",
) -> list[dict[str, Any]]:
    """Run the recipe on each dataset; rows for the quality table.

    `budget_minutes` becomes epochs: about 0.9 min per epoch on Abt-Buy and 1.7 on
    Walmart-Amazon for the linear record tower on 2 CPU cores (10 epochs measured).
    """
    epochs = max(1, min(10, int(budget_minutes / len(datasets) / 1.5)))
    out: list[dict[str, Any]] = []
    for name in datasets:
        folder = data_root / "product_matching" / "deepmatcher" / name
        model = work_dir / "models" / f"{name}-{variant}"
        minutes = train(folder, name, model, epochs, extra_train_args or ["--loss", "bce"])
        report = evaluate_json(
            "--model",
            model,
            "--pairs",
            folder / "test.csv",
            "--catalog",
            folder / "tableA.csv",
            "--catalog",
            folder / "tableB.csv",
        )
        (work_dir / f"{name}-{variant}-report.json").write_text(json.dumps(report, indent=1))
        recall = blocking_recall(folder, model, work_dir / f"{name}-{variant}")
        base, base_blocking = tfidf_baseline(folder, name)
        tower, head = report["pairs (tower distance)"], report.get("pairs (pairwise head)") or {}
        dm, ditto = PUBLISHED[name]
        pct = lambda v: None if v is None else round(100 * v, 1)  # noqa: E731
        common = {"dataset": f"{name} test ({variant} record tower)", "baseline_name": BASELINE}
        out.append(
            row(
                **common,
                metric="F1",
                tower=pct(tower["f1"]),
                head=pct(head.get("f1")),
                baseline=pct(base["f1"]),
                anchor=dm,
                anchor_source=f"DeepMatcher (Mudgal et al. 2018); Ditto {ditto} (Li et al. 2021)",
                train_minutes=minutes and round(minutes, 1),
            )
        )
        out.append(
            row(
                **common,
                metric="blocking recall@10",
                tower=round(recall, 3),
                baseline=round(base_blocking[10], 3),
                train_minutes=minutes and round(minutes, 1),
            )
        )
    return out


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


def main() -> None:
    recipe_main(__doc__, run, "product_matching", 45.0, options={"datasets": (",".join(FIELDS), _split)})


if __name__ == "__main__":
    main()
