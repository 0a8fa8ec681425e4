"""Recipe: similar questions / paraphrases on MRPC, STS Benchmark and SICK (docs/recipes/text_pairs.md).

Runs the recipe's commands (prepare-pairs → train → evaluate) and the non-learned baseline the
same way: TF-IDF over character 2-4-grams of the sentences (scikit-learn `char_wb`, sublinear tf)
with cosine, one threshold chosen on the valid pairs.

    .venv/bin/python -m benchmarks.recipes.text_pairs --data-root ../shared/data --work runs/recipes
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.recipes._common import (
    evaluate_json,
    recipe_main,
    row,
    simsearch,
    train_once,
    train_pairs_once,
)

# prepare-pairs arguments, paths relative to text_pairs/.
CORPORA: dict[str, list[str]] = {
    "mrpc": [
        "--format",
        "mrpc",
        "--train",
        "mrpc/msr_paraphrase_train.txt",
        "--test",
        "mrpc/msr_paraphrase_test.txt",
    ],
    "stsb": [
        "--format",
        "stsb",
        "--train",
        "stsbenchmark/sts-train.csv",
        "--valid",
        "stsbenchmark/sts-dev.csv",
        "--test",
        "stsbenchmark/sts-test.csv",
    ],
    "sick": ["--format", "sick", "--input", "sick/SICK.txt"],
}
NAMES = {"mrpc": "MRPC", "stsb": "STS-B", "sick": "SICK"}
# The anchors (Reimers & Gurevych 2019; Mueller & Thyagarajan 2016).
ANCHORS = {
    ("mrpc", "accuracy"): (76.0, "SBERT frozen embeddings (Reimers & Gurevych 2019); InferSent 75.8"),
    ("stsb", "spearman x100"): (86.1, "SBERT fine-tuned on STS-B (Reimers & Gurevych 2019); USE 74.9"),
    ("sick", "pearson r"): (0.882, "MaLSTM (Mueller & Thyagarajan 2016)"),
}
BASELINE = "TF-IDF char 2-4 cosine"
# The towers: "linear" (learned TF-IDF n-gram weights, from scratch, bce on the labels) and
# "pretrained" (all-MiniLM-L6-v2 fine-tuned with CoSENT, 4 epochs of batches of 32, as
# sentence-transformers fine-tunes on STS-B) and "mpnet" (the same with all-mpnet-base-v2).
# A variant with "reranker" also trains a cross-encoder on the same encoder, fused with its
# tower (`train-reranker ARGS --model TOWER`), and reports it in a row of its own whose "+ head"
# column is the cross-encoder + tower score. See docs/recipes/text_pairs.md.
VARIANTS: dict[str, dict[str, Any]] = {
    "linear": {
        "args": ["--tower", "text", "--architecture", "linear", "--embedding-dim", "512", "--fields", "text"],
        "batch_size": 128,
        "epochs": None,  # from the budget
    },
    "pretrained": {
        "args": [
            "--tower", "text", "--architecture", "pretrained", "--sequence-length", "64",
            "--fields", "text", "--loss", "cosent",
        ],
        "batch_size": 32,
        "epochs": {"mrpc": 4, "stsb": 4, "sick": 12},  # SICK's valid Spearman rose until 12
        # `simsearch train-reranker --model TOWER` on the same encoder (BERT's pooler).
        "reranker": ["--epochs", "4"],
    },
    # all-mpnet-base-v2 (12 layers, width 768; about 3x MiniLM's time per step here), same recipe.
    "mpnet": {
        "args": [
            "--tower", "text", "--architecture", "pretrained", "--pretrained", "all-mpnet-base-v2",
            "--sequence-length", "64", "--fields", "text", "--loss", "cosent",
        ],
        "batch_size": 32,
        # STS-B measured at 2 (24 min per epoch here); MRPC and SICK not run with MPNet yet.
        "epochs": {"mrpc": 2, "stsb": 2, "sick": 4},
        # Mean pooling, as all-mpnet-base-v2 was trained to pool (22 min per epoch here).
        "reranker": [
            "--pretrained", "all-mpnet-base-v2", "--pooling", "mean", "--sequence-length", "128",
            "--epochs", "3",
        ],
    },
}  # fmt: skip
# Per corpus: STS-B and SICK train and stop on the graded score; MRPC is judged by accuracy
# (the anchor's measure), so its thresholds maximise accuracy, the baseline's too.
CORPUS_ARGS = {
    "mrpc": ["--threshold-criterion", "accuracy"],
    "stsb": ["--score-column", "score"],
    "sick": ["--score-column", "score"],
}
CRITERION = {"mrpc": "accuracy"}


def prepare(data_root: Path, work: Path, name: str) -> Path:
    folder = work / "data" / name
    args = [
        a if not a.endswith((".txt", ".csv")) else str(data_root / "text_pairs" / a) for a in CORPORA[name]
    ]
    simsearch("prepare-pairs", *args, "--out", folder)
    return folder


def train(folder: Path, model: Path, epochs: int, args: list[str], batch_size: int = 128) -> float | None:
    return train_pairs_once(model, folder, [folder / "catalog.csv"], epochs, *args, batch_size=batch_size)


def _pairs(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with (folder / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    ids = [(r["left_id"], r["right_id"]) for r in rows]
    label = np.array([int(r["label"]) for r in rows])
    score = np.array([float(r["score"]) for r in rows])
    return np.array([a for a, _ in ids]), np.array([b for _, b in ids]), label, score


def tfidf_baseline(folder: Path, ks: tuple[int, ...] = (1, 5, 10), criterion: str = "f1") -> dict[str, Any]:
    """TF-IDF char 2-4 cosine on the test pairs, run the way `simsearch evaluate` runs a model."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from simsearch.evaluation.correlation import pearson, spearman
    from simsearch.evaluation.metrics import calibrate_threshold, pair_metrics
    from simsearch.evaluation.retrieval import pair_retrieval_metrics

    with (folder / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        catalog = list(csv.DictReader(handle))
    position = {r["id"]: i for i, r in enumerate(catalog)}
    x = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit_transform(
        [r["text"].lower() for r in catalog]
    )

    def cosines(split: str) -> tuple[np.ndarray, ...]:
        a, b, label, score = _pairs(folder, split)
        pa, pb = [position[i] for i in a], [position[i] for i in b]
        return np.asarray(x[pa].multiply(x[pb]).sum(axis=1)).ravel(), label, score, np.array(pa), np.array(pb)

    valid, valid_label, *_ = cosines("valid")
    test, label, score, pa, pb = cosines("test")
    threshold = calibrate_threshold(valid_label, valid, criterion=criterion)
    report: dict[str, Any] = dict(pair_metrics(label, test, threshold))
    report["spearman"], report["pearson"] = spearman(test, score), pearson(test, score)
    # Exact cosine retrieval among the test sentences: the Gram matrix's eigenvectors scaled by
    # sqrt(eigenvalue) have the same inner products as the TF-IDF rows, in a dense n x n array.
    pool = np.union1d(pa, pb)
    gram = (x[pool] @ x[pool].T).toarray()
    values, vectors = np.linalg.eigh(gram)
    dense = (vectors * np.sqrt(np.clip(values, 0, None))).astype(np.float32)
    at = {p: i for i, p in enumerate(pool)}
    positive = label == 1
    report["retrieval"] = pair_retrieval_metrics(
        dense, [at[p] for p in pa[positive]], [at[p] for p in pb[positive]], np.arange(len(pool)), ks=ks
    )
    return report


def run(
    data_root: Path,
    work_dir: Path,
    budget_minutes: float = 30.0,
    *,
    corpora: tuple[str, ...] = ("mrpc", "stsb", "sick"),
    extra_train_args: list[str] | None = None,
    variant: str = "linear",
) -> list[dict[str, Any]]:
    """Run the recipe on each corpus with the `variant` tower ("linear", "pretrained" or "mpnet"); rows
    for the quality table.

    The linear tower's `budget_minutes` is split across the corpora as training epochs (about
    1.5 min per epoch on 2 CPU cores, measured on MRPC); the pretrained one trains 4 epochs on
    MRPC and STS-B and 12 on SICK (20-30 min per corpus on 2 cores).
    """
    if variant not in VARIANTS:
        raise ValueError(f"Expected variant in {sorted(VARIANTS)}. Received: {variant!r}")
    setup = VARIANTS[variant]
    budget_epochs = max(1, min(10, int(budget_minutes / len(corpora) / 1.5)))
    rows: list[dict[str, Any]] = []
    for name in corpora:
        epochs = setup["epochs"][name] if setup["epochs"] else budget_epochs
        folder = prepare(data_root, work_dir, name)
        model = work_dir / "models" / f"{name}-{variant}"
        args = [*setup["args"], *CORPUS_ARGS[name], *(extra_train_args or [])]
        minutes = train(folder, model, epochs, args, setup["batch_size"])
        reranked: list[str | Path] = []
        if "reranker" in setup:
            reranker = work_dir / "models" / f"{name}-{variant}-reranker"
            cross_minutes = train_once(
                reranker, "--quiet", "--pairs", folder / "train.csv", "--valid-pairs", folder / "valid.csv",
                "--catalog", folder / "catalog.csv", "--model", model, *setup["reranker"], *CORPUS_ARGS[name],
                command="train-reranker",
            )  # fmt: skip
            reranked = ["--reranker", reranker]
        report = evaluate_json(
            "--model", model, "--pairs", folder / "test.csv", "--catalog", folder / "catalog.csv",
            "--score-column", "score", "--k", "1,5,10", *reranked,
        )  # fmt: skip
        (work_dir / f"{name}-{variant}-report.json").write_text(json.dumps(report, indent=1))
        base = tfidf_baseline(folder, criterion=CRITERION.get(name, "f1"))
        rows.extend(_rows(name, variant, report, base, minutes))
        if reranked:
            both = None if minutes is None or cross_minutes is None else minutes + cross_minutes
            rows.extend(_rows(name, variant, report, base, both, fused=True))
    return rows


def _rows(
    name: str,
    variant: str,
    report: dict[str, Any],
    base: dict[str, Any],
    minutes: float | None,
    fused: bool = False,
) -> list[dict]:
    """The quality-table rows of one corpus: the tower and its pairwise head, or (`fused`) the
    tower and the cross-encoder + tower score in the head's column."""
    tower, graded = report["pairs (tower distance)"], report["graded similarity"]
    retrieval = report["pair retrieval"]
    scorer = "cross-encoder + tower" if fused else "head"
    head = report.get("pairs (cross-encoder + tower)" if fused else "pairs (pairwise head)") or {}
    dataset = f"{NAMES[name]} test ({variant} tower{', cross-encoder re-ranker' if fused else ''})"

    def make(metric: str, t: float | None, h: float | None, b: float) -> dict[str, Any]:
        anchor, source = ANCHORS.get((name, metric), (None, None))
        return row(
            dataset=dataset,
            metric=metric,
            tower=t,
            head=h,
            baseline=b,
            baseline_name=BASELINE,
            anchor=anchor,
            anchor_source=source,
            train_minutes=minutes and round(minutes, 1),
        )

    pct = lambda v: None if v is None else round(100 * v, 1)  # noqa: E731
    out = [
        make("accuracy", pct(tower["accuracy"]), pct(head.get("accuracy")), pct(base["accuracy"])),
        make("F1", pct(tower["f1"]), pct(head.get("f1")), pct(base["f1"])),
    ]
    if not fused:  # paraphrase retrieval is the tower's alone: evaluate does not re-rank it
        recall = pct(retrieval["recall@1"]), None, pct(base["retrieval"]["recall@1"])
        out.append(make("recall@1 (paraphrase retrieval)", *recall))
    if name == "stsb":
        out.append(
            make(
                "spearman x100",
                pct(graded["spearman (tower)"]),
                pct(graded.get(f"spearman ({scorer})")),
                pct(base["spearman"]),
            )
        )
    if name == "sick":
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        out.append(
            make(
                "pearson r",
                r(graded["pearson (tower)"]),
                r(graded.get(f"pearson ({scorer})")),
                r(base["pearson"]),
            )
        )
    return out


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


def main() -> None:
    recipe_main(
        __doc__,
        run,
        "text_pairs",
        30.0,
        options={"corpora": ("mrpc,stsb,sick", _split), "variant": ("linear", str)},
    )


if __name__ == "__main__":
    main()
