"""Defaults only, on small real slices: the trained model against its non-learned baseline.

For every shared dataset, what a user with little labelled data has: 300 labelled pairs drawn
from the training split (products, sentence pairs), or 5 classes with half their items labelled
(characters, faces, signatures). The README's commands run with no tuned flag (`simsearch
train`, then the saved model on the dataset's held-out data), and the non-learned baseline runs
the same way on the same slice:

- pairs: test F1 at the threshold stored with the model (the head's when the head decides, else
  the distance's) and average precision; TF-IDF character 2-4-gram cosine with its best-F1
  threshold on the same 300 pairs;
- items: held-out items of the 5 classes searched against the labelled ones, precision@1;
  nearest neighbour on raw pixels at the same size.

    python benchmarks/defaults.py --data-root ../shared/data --work runs/defaults [--only abt-buy]
    python benchmarks/defaults.py --work runs/defaults-sequence --only mrpc \
        --train-args "--architecture sequence"

Each row also gives trained minus baseline on the test data with a 95% paired bootstrap
interval (`paired_difference`: the same resampled pairs or queries for both): a difference whose
interval lies below zero is a loss; one that straddles zero is a tie at this test size.

Writes `WORK/defaults.json` and prints the Markdown table for `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

N_PAIRS = 300
N_CLASSES = 5
SIMSEARCH = [sys.executable, "-m", "simsearch"]
EXTRA: list[str] = []  # --train-args: a variant against the defaults (e.g. another architecture)

# name -> (folder under data root, catalogue fields, tower)
PRODUCTS = {
    "Abt-Buy": ("product_matching/deepmatcher/Abt-Buy", "name,description,price", "record"),
    "Amazon-Google": ("product_matching/deepmatcher/Amazon-Google", "title,manufacturer,price", "record"),
    "Walmart-Amazon": (
        "product_matching/deepmatcher/Walmart-Amazon",
        "title,category,brand,modelno,price",
        "record",
    ),
}
TEXTS = {
    "MRPC": ["--format", "mrpc", "--train", "mrpc/msr_paraphrase_train.txt", "--test",
             "mrpc/msr_paraphrase_test.txt"],
    "STS-B": ["--format", "stsb", "--train", "stsbenchmark/sts-train.csv", "--valid",
              "stsbenchmark/sts-dev.csv", "--test", "stsbenchmark/sts-test.csv"],
    "SICK": ["--format", "sick", "--input", "sick/SICK.txt"],
}  # fmt: skip


def run(args: list[str]) -> str:
    done = subprocess.run([*SIMSEARCH, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"simsearch {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def sample_pairs(src: Path, out: Path, n: int, seed: int) -> None:
    rows = read_rows(src)
    random.Random(seed).shuffle(rows)
    keys = [k for k in rows[0] if k in ("left_id", "right_id", "label", "score")]
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[:n])


N_BOOT = 2000


def paired_difference(
    stat: Any, trained: tuple[Any, ...], baseline: tuple[Any, ...], n: int, *, binary: bool = False
) -> list[float]:
    """[trained - baseline, low, high]: `stat(*trained) - stat(*baseline)` on the test units and
    its 95% percentile interval over `N_BOOT` resamples of the units (rows of each array), the
    same rows for both; `binary`: the first array is the 0/1 labels, and a resample of one class
    (no F1 or AP) is drawn again."""
    rng = np.random.default_rng(0)
    point = stat(*trained) - stat(*baseline)
    diffs = []
    while len(diffs) < N_BOOT:
        rows = rng.integers(0, n, n)
        a, b = ([x[rows] for x in side] for side in (trained, baseline))
        if binary and not 0 < a[0].sum() < n:
            continue
        diffs.append(stat(*a) - stat(*b))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return [float(point), float(low), float(high)]


def _f1(y: np.ndarray, decided: np.ndarray) -> float:
    tp = float(np.sum(decided & (y == 1)))
    return 2 * tp / max(float(np.sum(decided) + np.sum(y == 1)), 1.0)


def _ap(y: np.ndarray, scores: np.ndarray) -> float:
    from simsearch.evaluation.metrics import average_precision

    return float(average_precision(y, scores))


def _mean(hits: np.ndarray) -> float:
    return float(np.mean(hits))


def pair_differences(trained: dict[str, Any], baseline: dict[str, Any]) -> dict[str, list[float]]:
    """Paired test F1 and AP differences (`paired_difference`) of two scorers of the same pairs."""
    y = trained.pop("labels")
    if not np.array_equal(y, baseline.pop("labels")):
        raise RuntimeError("the trained and baseline scores are not of the same test pairs")
    t, b = trained.pop("scores"), baseline.pop("scores")
    t_dec, b_dec = t >= trained["threshold_score"], b >= baseline["threshold_score"]
    return {
        "f1": paired_difference(_f1, (y, t_dec), (y, b_dec), len(y), binary=True),
        "average_precision": paired_difference(_ap, (y, t), (y, b), len(y), binary=True),
    }


def tfidf_pairs(catalogs: list[Path], fields: list[str], train: Path, test: Path) -> dict[str, Any]:
    """TF-IDF char 2-4-gram cosine: best-F1 threshold on the training pairs, F1 and AP on test
    (and, for `pair_differences`, the test scores, labels and threshold)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from simsearch.evaluation.metrics import calibrate_threshold, pair_metrics

    tables = [read_rows(c) for c in catalogs]
    texts = [[" ".join(r.get(f, "") or "" for f in fields).lower() for r in rows] for rows in tables]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit([t for side in texts for t in side])
    x = [vectorizer.transform(side) for side in texts]
    pos = [{r["id"]: i for i, r in enumerate(rows)} for rows in tables]
    right = 1 if len(tables) == 2 else 0

    def scores(path: Path) -> tuple[np.ndarray, np.ndarray]:
        rows = read_rows(path)
        a = [pos[0][r["left_id"]] for r in rows]
        b = [pos[right][r["right_id"]] for r in rows]
        sims = np.asarray(x[0][a].multiply(x[right][b]).sum(axis=1)).ravel()
        return sims, np.array([int(float(r["label"])) for r in rows])

    s_train, y_train = scores(train)
    s_test, y_test = scores(test)
    threshold = calibrate_threshold(y_train, s_train)
    report = pair_metrics(y_test, s_test, threshold)
    return {"f1": report["f1"], "average_precision": report["average_precision"],
            "scores": s_test, "labels": y_test, "threshold_score": float(threshold)}  # fmt: skip


def model_pairs(model: Path, catalogs: list[Path], test: Path) -> dict[str, Any]:
    cat = [a for c in catalogs for a in ("--catalog", str(c))]
    scores_csv = model.parent / "test_scores.csv"
    args = ["evaluate", "--model", str(model), "--pairs", str(test), *cat, "--json", "--no-plots",
            "--scores", str(scores_csv)]  # fmt: skip
    report = json.loads(run(args))
    config = json.loads((model / "config.json").read_text())
    decides = config.get("head", {}).get("decides", config.get("head", {}).get("rerank_default", False))
    section = report["pairs (pairwise head)" if decides else "pairs (tower distance)"]
    rows = read_rows(scores_csv)
    by_pair = {(r["left_id"], r["right_id"]): r for r in rows}
    ordered = [by_pair[(r["left_id"], r["right_id"])] for r in read_rows(test)]
    if decides:
        scores = np.array([float(r["probability"]) for r in ordered])
        threshold = float(section["threshold"])
    else:  # the distance decides: a higher score is a closer pair
        scores = -np.array([float(r["distance"]) for r in ordered])
        threshold = -float(section["threshold"])
    return {
        "scores": scores,
        "labels": np.array([int(r["label"]) for r in ordered]),
        "threshold_score": threshold,
        "f1": section["f1"],
        "average_precision": section["average_precision"],
        "decided_by": "head" if decides else "distance",
        "validation": config.get("validation"),
        "architecture": config["tower_settings"].get("architecture"),
    }


def pairs_case(name: str, catalogs: list[Path], fields: str, tower: str, train_src: Path, test: Path,
               work: Path, seed: int, n_pairs: int = N_PAIRS) -> dict[str, Any]:  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    train = work / "train.csv"
    sample_pairs(train_src, train, n_pairs, seed)
    cat = [a for c in catalogs for a in ("--catalog", str(c))]
    start = time.time()
    run(["train", "--pairs", str(train), *cat, "--tower", tower, "--fields", fields,
         "--out", str(work / "model"), "--quiet", *EXTRA])  # fmt: skip
    minutes = (time.time() - start) / 60
    trained = model_pairs(work / "model", catalogs, test)
    baseline = tfidf_pairs(catalogs, fields.split(","), train, test)
    difference = pair_differences(trained, baseline)
    return {"dataset": name, "kind": "pairs", "n": n_pairs, "minutes": minutes, "trained": trained,
            "baseline": baseline, "difference": difference}  # fmt: skip


def questions_case(data: Path, work: Path, seed: int, n_groups: int = N_PAIRS) -> dict[str, Any]:
    """Similar-question retrieval from groups: `n_groups` paraphrase pairs of MRPC's training
    split as labelled items (one class per pair; `train --data --tower text --loss triplet`), then
    each paraphrase pair of the test split: its left sentence in the catalogue, its right one
    the query; recall@1 by the model against TF-IDF char 2-4-gram cosine."""
    from simsearch.engine import encode_batches
    from simsearch.models.siamese import SiameseModel

    work.mkdir(parents=True, exist_ok=True)
    text = {r["id"]: r["text"] for r in read_rows(data / "catalog.csv")}
    train = [r for r in read_rows(data / "train.csv") if r["label"] == "1"]
    random.Random(seed).shuffle(train)
    items = work / "items.csv"
    with items.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label", "text"])
        for g, r in enumerate(train[:n_groups]):
            writer.writerow([f"{g}a", f"g{g}", text[r["left_id"]]])
            writer.writerow([f"{g}b", f"g{g}", text[r["right_id"]]])
    start = time.time()
    run(["train", "--data", str(items), "--tower", "text", "--fields", "text", "--loss", "triplet",
         "--out", str(work / "model"), "--quiet", *EXTRA])  # fmt: skip
    minutes = (time.time() - start) / 60
    test = [r for r in read_rows(data / "test.csv") if r["label"] == "1"]
    catalogue = [text[r["left_id"]] for r in test]
    queries = [text[r["right_id"]] for r in test]
    model = SiameseModel.load(work / "model")
    xb = encode_batches(model, {"text": np.array(catalogue, dtype=object)}, len(catalogue), 256)
    xq = encode_batches(model, {"text": np.array(queries, dtype=object)}, len(queries), 256)
    truth = np.arange(len(test))
    trained = nn_hits(xq, truth, xb, truth, model.metric)
    # The baseline learns its vocabulary and IDF from the same training texts as the tower (the
    # tower's are adapted from them); fitted on the test texts themselves it has seen more.
    trained_texts = [text[r[k]] for r in train[:n_groups] for k in ("left_id", "right_id")]
    tfidf, tfidf_test = (
        _tfidf_hits(fit, queries, catalogue, truth) for fit in (trained_texts, catalogue + queries)
    )
    difference = paired_difference(_mean, (trained,), (tfidf,), len(trained))
    trained, tfidf, tfidf_test = trained.mean(), tfidf.mean(), tfidf_test.mean()
    return {
        "difference": {"precision_at_1": difference},
        "dataset": "MRPC questions", "kind": "items", "n": 2 * n_groups, "minutes": minutes,
        "trained": {"precision_at_1": trained, "validation": model.config.get("validation"),
                    "architecture": model.config["tower_settings"].get("architecture")},
        "baseline": {"precision_at_1": tfidf, "name": "TF-IDF char 2-4",
                     "precision_at_1_fitted_on_test": tfidf_test}, "queries": len(test),
    }  # fmt: skip


def _tfidf_hits(fit: list[str], queries: list[str], catalogue: list[str], truth: np.ndarray) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(fit)
    tq, tb = vectorizer.transform(queries), vectorizer.transform(catalogue)
    return np.asarray((tq @ tb.T).argmax(axis=1)).ravel() == truth


def write_images(images: np.ndarray, labels: np.ndarray, root: Path) -> None:
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / f"class{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")


def image_slice(name: str, data_root: Path, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images uint8 (n, h, w), labels, extra train flags) of 5 classes of the dataset."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    if name == "Omniglot":
        d = np.load(data_root / "omniglot/omniglot_images_evaluation.npz")
        chars = rng.choice(len(d["images"]), N_CLASSES, replace=False)
        images = d["images"][chars].reshape(-1, 105, 105)
        images = np.where(images > 0, 255, 0).astype(np.uint8) if images.max() <= 1 else images
        return images, np.repeat(np.arange(N_CLASSES), 20), ["--image-size", "28"]
    if name == "ORL":
        people = rng.choice(40, N_CLASSES, replace=False) + 1
        files = [sorted((data_root / f"faces/att_orl_faces/s{p}").glob("*.pgm")) for p in people]
        images = np.stack([np.asarray(Image.open(f).convert("L")) for fs in files for f in fs])
        return images, np.repeat(np.arange(N_CLASSES), 10), []
    folder = data_root / "signatures/sigcomp2009_nisdcc_preview"
    genuine = sorted(p for p in folder.glob("*.png") if p.name[:3] == p.name[3:6])
    writers = sorted({p.name[:3] for p in genuine})
    chosen = rng.choice(writers, N_CLASSES, replace=False)
    files = [p for w in chosen for p in genuine if p.name[:3] == w]
    images = np.stack([np.asarray(Image.open(f).convert("L").resize((128, 64))) for f in files])
    labels = np.array([list(chosen).index(p.name[:3]) for p in files])
    return images, labels, []


def nn_hits(xq: np.ndarray, yq: np.ndarray, xb: np.ndarray, yb: np.ndarray, metric: str) -> np.ndarray:
    """Whether each query's nearest catalogue item has its label."""
    if metric == "cosine":
        xq = xq / np.maximum(np.linalg.norm(xq, axis=1, keepdims=True), 1e-12)
        xb = xb / np.maximum(np.linalg.norm(xb, axis=1, keepdims=True), 1e-12)
        nearest = np.argmax(xq @ xb.T, axis=1)
    else:
        sq = (xb * xb).sum(1)[None, :] - 2 * xq @ xb.T  # |q - b|^2 less |q|^2, the same per query
        nearest = np.argmin(sq, axis=1)
    return np.asarray(yb[nearest] == yq)


def images_case(name: str, data_root: Path, work: Path, seed: int) -> dict[str, Any]:
    from simsearch.data.loaders import load_items
    from simsearch.engine import encode_batches
    from simsearch.models.siamese import SiameseModel

    shutil.rmtree(work, ignore_errors=True)
    images, labels, flags = image_slice(name, data_root, seed)
    rng = np.random.default_rng(seed)
    query = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        query[rng.choice(rows, len(rows) // 2, replace=False)] = True
    write_images(images[~query], labels[~query], work / "labelled")
    write_images(images[query], labels[query], work / "queries")
    start = time.time()
    run(["train", "--data", str(work / "labelled"), "--tower", "image", *flags,
         "--out", str(work / "model"), "--quiet", *EXTRA])  # fmt: skip
    minutes = (time.time() - start) / 60
    model = SiameseModel.load(work / "model")
    size = model.config["inputs"]["image_size"]
    base = load_items(work / "labelled", image_size=tuple(size))
    queries = load_items(work / "queries", image_size=tuple(size))
    xb = encode_batches(model, base.content(), len(base), 256)
    xq = encode_batches(model, queries.content(), len(queries), 256)
    trained = nn_hits(xq, queries.labels, xb, base.labels, model.metric)
    flat_q = queries.images.reshape(len(queries), -1).astype(np.float32)
    flat_b = base.images.reshape(len(base), -1).astype(np.float32)
    pixels = nn_hits(flat_q, queries.labels, flat_b, base.labels, "l2")
    difference = paired_difference(_mean, (trained,), (pixels,), len(trained))
    trained, pixels = trained.mean(), pixels.mean()
    return {
        "dataset": name, "kind": "items", "n": int((~query).sum()), "minutes": minutes,
        "difference": {"precision_at_1": difference},
        "trained": {"precision_at_1": trained, "validation": model.config.get("validation"),
                    "architecture": model.config["tower_settings"].get("architecture")},
        "baseline": {"precision_at_1": pixels}, "queries": int(query.sum()),
    }  # fmt: skip


def prepared(name: str, data_root: Path, work: Path) -> Path:
    """`prepare-pairs` of the sentence-pair corpus `name` (once): catalog.csv, train/test.csv."""
    data = work / name / "data"
    if not (data / "catalog.csv").exists():
        folder = data_root / "text_pairs"
        flags = [str(folder / a) if a.endswith((".txt", ".csv")) else a for a in TEXTS[name]]
        run(["prepare-pairs", *flags, "--out", str(data)])
    return data


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | slice | metric | trained (defaults) | saved tower | validation | decided by | baseline "
        "| trained - baseline [95% CI] | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def diff(r: dict[str, Any], metric: str) -> str:
        d = r.get("difference", {}).get(metric)
        return "?" if d is None else f"{100 * d[0]:+.1f} [{100 * d[1]:+.1f}, {100 * d[2]:+.1f}]"

    for r in results:
        v = r["trained"].get("validation") or {}
        chosen = f"{r['trained']['architecture']} ({v.get('chosen', '?')})"
        val = f"{v.get('split', '?')} n={v.get('n', '?')}"
        if v.get("p_value") is not None:  # the paired test of trained against its rival
            val += f", p={v['p_value']:.3f}"
        if r["kind"] == "pairs":
            for metric in ("f1", "average_precision"):
                lines.append(
                    f"| {r['dataset']} | {r['n']} pairs | test {metric} | {100 * r['trained'][metric]:.1f} | "
                    f"{chosen} | {val} | {r['trained']['decided_by']} | {100 * r['baseline'][metric]:.1f} "
                    f"(TF-IDF char 2-4) | {diff(r, metric)} | {r['minutes']:.1f} |"
                )
        else:
            base = r["baseline"].get("name", "raw pixels")
            what = f"{r['n']} labelled"
            if "questions" not in r["dataset"]:
                what = f"{N_CLASSES} classes, {what}"
            lines.append(
                f"| {r['dataset']} | {what}, {r['queries']} queries | "
                f"precision@1 | {100 * r['trained']['precision_at_1']:.1f} | {chosen} | {val} | distance | "
                f"{100 * r['baseline']['precision_at_1']:.1f} ({base}) | {diff(r, 'precision_at_1')} | "
                f"{r['minutes']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/defaults"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", help="Dataset names (case-insensitive).")
    parser.add_argument("--train-args", default="", help="Extra train flags: a variant, not the defaults.")
    args = parser.parse_args()
    EXTRA.extend(args.train_args.split())
    wanted = {n.lower() for n in args.only} if args.only else None
    results_path = args.work / "defaults.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    done = {r["dataset"] for r in results}
    names = [*PRODUCTS, *TEXTS, "MRPC questions", "Omniglot", "ORL", "SigComp2009"]
    for name in names:
        if (wanted and name.lower() not in wanted) or (not wanted and name in done):
            continue
        work = args.work / name
        if name in PRODUCTS:
            folder, fields, tower = PRODUCTS[name]
            src = args.data_root / folder
            result = pairs_case(name, [src / "tableA.csv", src / "tableB.csv"], fields, tower,
                                src / "train.csv", src / "test.csv", work, args.seed)  # fmt: skip
        elif name in TEXTS:
            data = prepared(name, args.data_root, args.work)
            result = pairs_case(name, [data / "catalog.csv"], "text", "text", data / "train.csv",
                                data / "test.csv", work, args.seed)  # fmt: skip
        elif name == "MRPC questions":
            result = questions_case(prepared("MRPC", args.data_root, args.work), work, args.seed)
        else:
            result = images_case(name, args.data_root, work, args.seed)
        results = [r for r in results if r["dataset"] != name] + [result]
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2))
        print(table([result]).splitlines()[-1], flush=True)
    print(table(sorted(results, key=lambda r: names.index(r["dataset"]))))


if __name__ == "__main__":
    main()
