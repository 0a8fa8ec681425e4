"""Recipe: signatures, genuine vs skilled forgery on SigComp2009 (docs/recipes/signatures.md).

Runs the page's two command blocks (the recipe, then the raw-pixel baseline) for the 4 folds of
leave-writers-out cross-validation, and more shuffles of the writers (`SEED`) while the budget
lasts; reports the mean of the per-fold EERs with a bootstrap 95% interval (pairs resampled
within each fold), their spread over folds, and the accuracy at the calibrated threshold.

    .venv/bin/python -m benchmarks.recipes.signatures --data-root ../shared/data --work runs/recipes
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.recipes._common import recipe_main, row
from benchmarks.recipes._doc_blocks import doc_block, run_bash, set_variables
from simsearch.evaluation.metrics import equal_error_rate

PAGE = "signatures.md"
FOLDS = 4
MAX_SEEDS = 5
BOOTSTRAP = 1000
BASELINE = "raw pixels, Euclidean distance"
ANCHOR = (9.15, "best offline EER, ICDAR 2009 SigComp on NISDCC (Blankers et al. 2009); 100 writers")


def run_fold(data: Path, work_dir: Path, seed: int, fold: int) -> dict[str, Any]:
    run = (work_dir / f"seed{seed}" / f"fold{fold}").resolve()
    if not (run / "verification_pixels.json").exists():
        run_bash(
            set_variables(doc_block(PAGE), {"DATA": data.resolve(), "SEED": seed, "FOLD": fold, "RUN": run})
        )
        run_bash(set_variables(doc_block(PAGE, "recipe-baseline"), {"SEED": seed, "FOLD": fold, "RUN": run}))
    trained = (run / "model" / "config.json").stat().st_mtime
    return {
        "model": json.loads((run / "verification.json").read_text()),
        "pixels": json.loads((run / "verification_pixels.json").read_text()),
        "scores": _scores(run / "scores.csv"),
        "scores_pixels": _scores(run / "scores_pixels.csv"),
        "train_minutes": (trained - (run / "split" / "split.json").stat().st_mtime) / 60,
    }


def _scores(path: Path) -> dict[str, list[float]]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return {
        "label": [int(r["label"]) for r in rows],
        "distance": [float(r["distance"]) for r in rows],
        "probability": [float(r["probability"]) if r["probability"] else float("nan") for r in rows],
    }


def run(data_root: Path, work_dir: Path, budget_minutes: float = 5.0) -> list[dict[str, Any]]:
    """All 4 folds of seed 0, then further seeds while the budget lasts."""
    data = data_root / "signatures" / "sigcomp2009_nisdcc_preview"
    start, folds = time.perf_counter(), []
    for seed in range(MAX_SEEDS):
        folds += [run_fold(data, work_dir, seed, fold) for fold in range(FOLDS)]
        spent = (time.perf_counter() - start) / 60
        if spent * (seed + 2) / (seed + 1) > budget_minutes:
            break
    (work_dir / "signatures-reports.json").write_text(json.dumps(folds))
    return rows(folds)


def fold_mean_eer(
    folds: list[dict[str, Any]], key: str, column: str, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of the per-fold EERs, with a bootstrap 95% interval: each draw resamples the pairs
    within every fold (each fold has its own model, so scores are not pooled across folds)."""
    data = []
    for f in folds:
        label = np.asarray(f[key]["label"])
        score = np.asarray(f[key][column], dtype=np.float64)
        data.append((label, -score if column == "distance" else score))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        eers = []
        for label, score in data:
            pick = rng.integers(0, len(label), len(label))
            if 0 < label[pick].sum() < len(pick):
                eers.append(equal_error_rate(label[pick], score[pick]))
        draws.append(np.mean(eers))
    low, high = np.percentile(draws, [2.5, 97.5])
    mean = float(np.mean([equal_error_rate(label, score) for label, score in data]))
    return mean, float(low), float(high)


def _interval(folds: list[dict[str, Any]], key: str, column: str = "distance") -> str:
    eer, low, high = fold_mean_eer(folds, key, column)
    return f"{100 * eer:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _spread(folds: list[dict[str, Any]], report: str, section: str, key: str) -> str:
    values = [f[report][section][key] for f in folds]
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"


def rows(folds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    n_pairs = sum(len(f["scores"]["label"]) for f in folds)
    dataset = f"SigComp2009 NISDCC sample, writers unseen in training ({len(folds)} folds, {n_pairs} pairs)"
    tower, head = "pairs (tower distance)", "pairs (pairwise head)"
    common = {
        "dataset": dataset,
        "baseline_name": BASELINE,
        "train_minutes": round(float(np.mean([f["train_minutes"] for f in folds])), 1),
    }
    return [
        row(
            metric="genuine vs skilled forgery EER %, mean of folds [bootstrap 95%]",
            tower=_interval(folds, "scores"),
            head=_interval(folds, "scores", "probability"),
            baseline=_interval(folds, "scores_pixels"),
            anchor=ANCHOR[0],
            anchor_source=ANCHOR[1],
            **common,
        ),
        row(
            metric="EER % per fold, mean ± std",
            tower=_spread(folds, "model", tower, "eer"),
            head=_spread(folds, "model", head, "eer"),
            baseline=_spread(folds, "pixels", tower, "eer"),
            **common,
        ),
        row(
            metric="accuracy % at the calibrated threshold, mean ± std over folds",
            tower=_spread(folds, "model", tower, "accuracy"),
            head=_spread(folds, "model", head, "accuracy"),
            baseline=_spread(folds, "pixels", tower, "accuracy"),
            **common,
        ),
    ]


def main() -> None:
    recipe_main(__doc__, run, "signatures", 5.0, subfolder="signatures")


if __name__ == "__main__":
    main()
