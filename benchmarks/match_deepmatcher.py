"""Product matching on the DeepMatcher splits: simsearch against TF-IDF and the published figures.

For each dataset (Abt-Buy, Amazon-Google, Walmart-Amazon under `--data-root`):

1. train a record model with the CLI on `train.csv` (`valid.csv` for early stopping and the
   calibrated thresholds), unless `--models/<dataset>` already holds one;
2. classify the `test.csv` pairs at the thresholds calibrated on `valid.csv`: by tower distance
   alone and by the pairwise head; precision, recall, F1 and average precision;
3. the non-learned baseline run the same way: TF-IDF over character 2-4-grams of the joined
   fields (scikit-learn, `char_wb`, sublinear tf), cosine, one threshold chosen on `valid.csv`;
4. blocking recall: the share of the test set's true matches whose tableA item is among the
   top-k neighbours of its tableB item (what `simsearch match` retrieves), for simsearch's index
   and for exact TF-IDF cosine.

    .venv/bin/python benchmarks/match_deepmatcher.py --data-root ../shared/data/product_matching/deepmatcher

Appends a table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Content fields per dataset: every column but the id, as a user would pass them.
FIELDS = {
    "Abt-Buy": "name,description,price",
    "Amazon-Google": "title,manufacturer,price",
    "Walmart-Amazon": "title,category,brand,modelno,price",
}
# Published F1 on the test split: DeepMatcher (Mudgal et al. 2018, best DM model; Walmart-Amazon
# best prior "DM+" from Ditto's table) and Ditto (Li et al. 2021).
PUBLISHED = {
    "Abt-Buy": (62.8, 89.33),
    "Amazon-Google": (69.3, 75.58),
    "Walmart-Amazon": (73.6, 86.76),
}
KS = (1, 5, 10, 20, 50)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--datasets", default=",".join(FIELDS))
    parser.add_argument("--models", type=Path, default=ROOT / "runs" / "deepmatcher")
    parser.add_argument(
        "--train-args",
        default="--loss bce --learning-rate 1e-2 --epochs 5",
        help="Extra `simsearch train` options.",
    )
    parser.add_argument(
        "--tower",
        default="record",
        help="`simsearch train --tower`: record (TF-IDF) or lm_record (a pretrained language model).",
    )
    parser.add_argument("--block-k", type=int, default=10, help="k of the blocking recall in the table.")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    return parser.parse_args()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def train(args: argparse.Namespace, name: str, folder: Path, out: Path) -> float:
    """Train with the CLI (as a user would); returns wall minutes (0 when reused)."""
    if (out / "config.json").exists():
        return 0.0
    # The record tower's epoch is one pass over the pairs; other kinds keep their own default.
    steps = ["--steps-per-epoch", str(-(-len(read_rows(folder / "train.csv")) // 128))]
    command = [
        sys.executable, "-m", "simsearch", "train", "--quiet",
        "--pairs", str(folder / "train.csv"), "--valid-pairs", str(folder / "valid.csv"),
        "--catalog", str(folder / "tableA.csv"), "--catalog", str(folder / "tableB.csv"),
        "--tower", args.tower, "--fields", FIELDS[name], *(steps if args.tower == "record" else []),
        *args.train_args.split(), "--out", str(out),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return (time.perf_counter() - start) / 60


def encode_catalogues(folder: Path, model):
    """tableA and tableB as `Items`, and their embeddings stacked A then B, encoded once."""
    from simsearch.cli._common import combine, load_catalogs

    fields = model.config["inputs"]["text_fields"] + model.config["inputs"]["numeric_fields"]
    left, right = load_catalogs((folder / "tableA.csv", folder / "tableB.csv"), fields)
    catalog, _ = combine(left, right)
    return left, right, model.encode(catalog.content())


def pair_scores(folder: Path, split: str, model, left, right, embeddings):
    """(distance, head probability, label) of every pair in `split`.csv."""
    from simsearch.cli._common import load_pair_file

    pairs = load_pair_file(folder / f"{split}.csv", left, right, len(left))
    u, v = embeddings[pairs.left], embeddings[pairs.right]
    return model.distance(u, v), model.score_pairs(u, v), pairs.same.astype(np.int64)


def tfidf_baseline(folder: Path, name: str) -> tuple[dict[str, float], dict[int, float]]:
    """TF-IDF char 2-4-gram cosine: test classification at the valid threshold, blocking recall."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from simsearch.evaluation.metrics import calibrate_threshold, pair_metrics

    fields = FIELDS[name].split(",")
    tables = {side: read_rows(folder / f"table{side}.csv") for side in "AB"}
    texts = {side: [" ".join(r[f] for f in fields).lower() for r in rows] for side, rows in tables.items()}
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit(texts["A"] + texts["B"])
    x = {side: vectorizer.transform(texts[side]) for side in "AB"}
    pos = {side: {r["id"]: i for i, r in enumerate(rows)} for side, rows in tables.items()}

    def scores(split: str) -> tuple[np.ndarray, np.ndarray]:
        rows = read_rows(folder / f"{split}.csv")
        a = [pos["A"][r["left_id"]] for r in rows]
        b = [pos["B"][r["right_id"]] for r in rows]
        sims = np.asarray(x["A"][a].multiply(x["B"][b]).sum(axis=1)).ravel()
        return sims, np.array([int(r["label"]) for r in rows])

    valid, valid_same = scores("valid")
    test, test_same = scores("test")
    report = pair_metrics(test_same, test, calibrate_threshold(valid_same, valid))
    matches = [
        (pos["A"][r["left_id"]], pos["B"][r["right_id"]])
        for r in read_rows(folder / "test.csv")
        if r["label"] == "1"
    ]
    sims = (x["B"][[b for _, b in matches]] @ x["A"].T).toarray()
    return report, blocking_recall(sims, [a for a, _ in matches])


def blocking_recall(similarities: np.ndarray, targets: list[int]) -> dict[int, float]:
    """Share of rows whose target column is among the row's top-k, for each k in KS."""
    target_sims = similarities[np.arange(len(targets)), targets]
    rank = np.sum(similarities > target_sims[:, None], axis=1)
    return {k: float(np.mean(rank < k)) for k in KS}


def index_blocking_recall(folder: Path, model, left, right, embeddings) -> dict[int, float]:
    """Blocking recall through a simsearch index of tableA queried with tableB items."""
    from simsearch.index import FaissIndex, IndexConfig

    index = FaissIndex(IndexConfig(metric=model.metric)).build(embeddings[: len(left)], left.ids.astype(str))
    rows = [r for r in read_rows(folder / "test.csv") if r["label"] == "1"]
    b_pos = {str(i): n for n, i in enumerate(right.ids.astype(str))}
    xq = embeddings[len(left) :][[b_pos[r["right_id"]] for r in rows]]
    _, found = index.search(xq, max(KS))
    hit = [[r["left_id"] in set(f[:k]) for r, f in zip(rows, found, strict=True)] for k in KS]
    return {k: float(np.mean(h)) for k, h in zip(KS, hit, strict=True)}


def evaluate(args: argparse.Namespace, name: str) -> dict[str, object]:
    from simsearch.evaluation.metrics import pair_metrics
    from simsearch.models.siamese import SiameseModel

    folder = args.data_root / name
    out = args.models / name
    minutes = train(args, name, folder, out)
    model = SiameseModel.load(out)
    left, right, embeddings = encode_catalogues(folder, model)
    distance, probability, same = pair_scores(folder, "test", model, left, right, embeddings)
    threshold = model.threshold
    row: dict[str, object] = {
        "dataset": name,
        # A pair is "same" when its distance is at most the threshold: negated, a score at least it.
        "tower": pair_metrics(same, -distance, -threshold["distance"]),
        "head": pair_metrics(same, probability, threshold["probability"]),
        "train_minutes": minutes,
        "blocking": index_blocking_recall(folder, model, left, right, embeddings),
        "rerank_default": bool(model.config.get("head", {}).get("rerank_default", False)),
    }
    row["tfidf"], row["tfidf_blocking"] = tfidf_baseline(folder, name)
    print(json.dumps(row, indent=1), flush=True)
    return row


def table(rows: list[dict], block_k: int) -> str:
    lines = [
        f"| dataset | simsearch tower F1 (P / R) | simsearch + head F1 (P / R) | TF-IDF char 2-4 F1 (P / R) "
        f"| DeepMatcher | Ditto | blocking recall@{block_k} simsearch / TF-IDF | train min |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(r: dict) -> str:
        return f"{100 * r['f1']:.1f} ({100 * r['precision']:.1f} / {100 * r['recall']:.1f})"

    for row in rows:
        dm, ditto = PUBLISHED[row["dataset"]]
        lines.append(
            f"| {row['dataset']} | {cell(row['tower'])} | {cell(row['head'])} | {cell(row['tfidf'])} "
            f"| {dm} | {ditto} | {row['blocking'][block_k]:.3f} / {row['tfidf_blocking'][block_k]:.3f} "
            f"| {row['train_minutes']:.1f} |"
        )
    return "\n".join(lines)


def fmt(recalls: dict[int, float]) -> str:
    return ", ".join(f"{recalls[k]:.3f}" for k in KS)


def main() -> None:
    args = parse_args()
    rows = [evaluate(args, name) for name in args.datasets.split(",")]
    command = "benchmarks/match_deepmatcher.py " + " ".join(sys.argv[1:])
    blocking = "\n".join(
        f"- {r['dataset']} blocking recall@k (k={', '.join(map(str, KS))}): simsearch "
        f"{fmt(r['blocking'])}; TF-IDF {fmt(r['tfidf_blocking'])}"
        for r in rows
    )
    text = (
        f"\n## DeepMatcher product matching (test split)\n\n"
        f"`{command}` (tower `{args.tower}`, train options `{args.train_args}`), {dt.date.today()}, "
        f"{platform.machine()} {os.cpu_count()}-core CPU.\n\n{table(rows, args.block_k)}\n\n{blocking}\n"
    )
    with args.results.open("a", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
