"""Dedup and match with simsearch's defaults against two baselines, on the DeepMatcher sets.

For each set (Abt-Buy, Amazon-Google, Walmart-Amazon under `--data-root`), the tasks of
`simsearch.evaluation.linkage_tasks` (entity clusters from all labelled matches, split by
cluster: training links never evaluated; training pair files of true links + 4 blocked + 4
random non-links per link):

- dedup: tables A and B merged into one catalogue, its duplicates the pairs within a cluster;
- match: catalogue B against catalogue A.

Each task three ways, each trained on the same training pair file and run on the same
evaluation catalogue(s):

1. simsearch, defaults only, through the real CLI: `simsearch train --pairs ... --tower record
   --fields ...`, `build-index`, then `dedup --groups` or `match` and `match --one-to-one`;
2. TF-IDF: character 2-4-gram cosine (scikit-learn, `char_wb`, sublinear tf) of the joined
   fields, one threshold (best F1 on the training pairs); every pair at or above it (exact);
3. classic: token blocking (the 10 candidates per item sharing the most idf-weighted rare
   tokens), per-field Jaro-Winkler, normalised Levenshtein, token Jaccard, exact and missing
   flags, and the price ratio (rapidfuzz), a logistic regression fitted on the training pairs,
   its threshold the best out-of-fold F1 on them.

The baselines group their dedup pairs as `dedup --groups` does (`group_pairs`, average linkage at
their threshold) and keep one match per item with `one_to_one` for the `--one-to-one` row. All
outputs are scored by `simsearch evaluate --pairs-out OUT --truth LINKS` (`--ordered` for match):
pair precision, recall and F1; for dedup also over the pairs within the groups file.

    python benchmarks/bench_linkage.py --data-root ../shared/data/product_matching/deepmatcher
    python benchmarks/bench_linkage.py --quick            # 150 entities with a link per set
    python benchmarks/bench_linkage.py --datasets Abt-Buy --no-write

Needs scikit-learn and rapidfuzz (`pip install -e ".[bench]"`). Appends a table to
benchmarks/RESULTS.md unless --no-write.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: import the checkout's simsearch

from simsearch.dedup import DuplicatePairs, group_pairs, one_to_one, write_groups, write_pairs  # noqa: E402
from simsearch.evaluation.linkage_tasks import (  # noqa: E402
    DedupTask,
    LinkageTasks,
    MatchTask,
    blocking_tokens,
    linkage_tasks,
)
from simsearch.evaluation.metrics import calibrate_threshold  # noqa: E402

SIMSEARCH = [sys.executable, "-m", "simsearch"]
DATA_ROOT = ROOT.parent / "shared" / "data" / "product_matching" / "deepmatcher"
FIELDS = {
    "Abt-Buy": ["name", "description", "price"],
    "Amazon-Google": ["title", "manufacturer", "price"],
    "Walmart-Amazon": ["title", "category", "brand", "modelno", "price"],
}
NUMERIC = {"price"}  # the classic pipeline compares these by ratio
QUICK_ENTITIES = 150
BLOCK_K = 10  # classic blocking candidates per item, as simsearch's default k


# ---- data ----------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(rows: Sequence[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def load_tasks(folder: Path, max_entities: int | None, seed: int = 0) -> LinkageTasks:
    """The dedup and match tasks of one DeepMatcher set: its tables, and its matches from the
    train, valid and test files together."""
    matches = [
        (r["left_id"], r["right_id"])
        for split in ("train", "valid", "test")
        for r in read_rows(folder / f"{split}.csv")
        if r["label"] == "1"
    ]
    table_a, table_b = read_rows(folder / "tableA.csv"), read_rows(folder / "tableB.csv")
    return linkage_tasks(
        table_a, table_b, matches, fields=FIELDS[folder.name], max_entities=max_entities, seed=seed
    )


def write_dedup(task: DedupTask, work: Path) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    files = {"train_catalog": task.train_catalog, "train_pairs": task.train_pairs}
    files |= {"catalog": task.catalog, "truth": task.truth}
    return {name: write_rows(rows, work / f"{name}.csv") for name, rows in files.items()}


def write_match(task: MatchTask, work: Path) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    files = {
        "train_a": task.train_catalog_a,
        "train_b": task.train_catalog_b,
        "train_pairs": task.train_pairs,
    }
    files |= {"catalog_a": task.catalog_a, "catalog_b": task.catalog_b, "truth": task.truth}
    return {name: write_rows(rows, work / f"{name}.csv") for name, rows in files.items()}


# ---- simsearch through its CLI -------------------------------------------------------------


def cli(*args: str | Path) -> str:
    done = subprocess.run([*SIMSEARCH, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"simsearch {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def evaluate(out: Path, truth: Path, ordered: bool = False) -> dict[str, float]:
    """`simsearch evaluate --pairs-out OUT --truth LINKS`: the pair scores."""
    report = json.loads(
        cli("evaluate", "--pairs-out", out, "--truth", truth, "--json", *(["--ordered"] * ordered))
    )
    return next(value for key, value in report.items() if key.startswith("links"))


def simsearch_dedup(files: dict[str, Path], fields: Sequence[str], work: Path) -> dict[str, Any]:
    start = time.perf_counter()
    cli("train", "--quiet", "--pairs", files["train_pairs"], "--catalog", files["train_catalog"],
        "--tower", "record", "--fields", ",".join(fields), "--out", work / "model")  # fmt: skip
    trained = time.perf_counter()
    cli("build-index", "--model", work / "model", "--catalog", files["catalog"], "--index", work / "index")
    cli("dedup", "--index", work / "index", "--out", work / "pairs.csv", "--groups", work / "groups.csv")
    done = time.perf_counter()
    return {
        "pairs": evaluate(work / "pairs.csv", files["truth"]),
        "groups": evaluate(work / "groups.csv", files["truth"]),
        "train_s": trained - start,
        "wall_s": done - start,
        "model": model_summary(work / "model"),
    }


def simsearch_match(files: dict[str, Path], fields: Sequence[str], work: Path) -> dict[str, Any]:
    start = time.perf_counter()
    cli("train", "--quiet", "--pairs", files["train_pairs"], "--catalog", files["train_a"],
        "--catalog", files["train_b"], "--tower", "record", "--fields", ",".join(fields),
        "--out", work / "model")  # fmt: skip
    trained = time.perf_counter()
    cli("build-index", "--model", work / "model", "--catalog", files["catalog_a"], "--index", work / "index")
    cli("match", "--index", work / "index", "--catalog", files["catalog_b"], "--out", work / "matches.csv")
    done = time.perf_counter()
    cli("match", "--index", work / "index", "--catalog", files["catalog_b"], "--out", work / "one.csv",
        "--one-to-one")  # fmt: skip
    one = time.perf_counter()
    return {
        "pairs": evaluate(work / "matches.csv", files["truth"], ordered=True),
        "one_to_one": evaluate(work / "one.csv", files["truth"], ordered=True),
        "train_s": trained - start,
        "wall_s": done - start,
        "one_to_one_s": one - done,
        "model": model_summary(work / "model"),
    }


def model_summary(model: Path) -> dict[str, Any]:
    """What the defaults chose: the validation's pick and whether the head decides."""
    config = json.loads((model / "config.json").read_text())
    validation = config.get("validation", {})
    head = config.get("head", {})
    return {
        "chosen": validation.get("chosen"),
        "validation": validation.get("split"),
        "scores": validation.get("scores"),
        "head_decides": head.get("rerank_default", head.get("decides")),
        "threshold": {k: v for k, v in config.get("threshold", {}).items() if k != "curves"},
    }


# ---- baselines -----------------------------------------------------------------------------


class Catalogues:
    """The rows a baseline reads: the training side(s) and the evaluation side(s) by id."""

    def __init__(self, train: Sequence[Sequence[dict[str, str]]], test: Sequence[Sequence[dict[str, str]]]):
        self.train = [{r["id"]: r for r in rows} for rows in train]
        self.test = [list(rows) for rows in test]

    def train_pair_rows(self, pairs: Sequence[dict[str, str]]) -> tuple[list[dict], list[dict], np.ndarray]:
        left, right = self.train[0], self.train[-1]
        return (
            [left[p["left_id"]] for p in pairs],
            [right[p["right_id"]] for p in pairs],
            np.array([int(p["label"]) for p in pairs]),
        )


def joined(rows: Sequence[dict[str, str]], fields: Sequence[str]) -> list[str]:
    return [" ".join(r[f] for f in fields).lower() for r in rows]


def tfidf(cats: Catalogues, pairs: Sequence[dict[str, str]], fields: Sequence[str]) -> tuple[Any, float]:
    """Fit TF-IDF on every item (no labels needed) and choose the threshold on the training pairs."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    every = [r for side in cats.train for r in side.values()] + [r for rows in cats.test for r in rows]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit(joined(every, fields))
    left, right, same = cats.train_pair_rows(pairs)
    xl, xr = vectorizer.transform(joined(left, fields)), vectorizer.transform(joined(right, fields))
    cosine = np.asarray(xl.multiply(xr).sum(axis=1)).ravel()
    return vectorizer, calibrate_threshold(same, cosine)


def all_pairs_above(xq: Any, xb: Any, threshold: float, same: bool, chunk: int = 1024) -> list[tuple]:
    """`(query row, base row, cosine)` of every pair at or above `threshold`; with `same`, the
    query and base are one catalogue and each unordered pair comes once."""
    found = []
    for start in range(0, xq.shape[0], chunk):
        sims = (xq[start : start + chunk] @ xb.T).toarray()
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if not same or c > start + r:
                found.append((start + r, c, float(sims[r, c])))
    return found


def as_pairs(found: Sequence[tuple], left_ids: Sequence[str], right_ids: Sequence[str]) -> DuplicatePairs:
    scores = np.array([s for _, _, s in found], np.float32)
    return DuplicatePairs(
        left_ids=np.array([left_ids[i] for i, _, _ in found], object),
        right_ids=np.array([right_ids[j] for _, j, _ in found], object),
        distances=1 - scores,
        scores=scores,
    )


def baseline_outputs(
    kind: str, found: DuplicatePairs, threshold: float, ids: Sequence[str], truth: Path, work: Path
) -> dict[str, Any]:
    """Write a baseline's pairs (and groups, or one-to-one matches) and score them with the CLI."""
    work.mkdir(parents=True, exist_ok=True)
    write_pairs(found, work / "pairs.csv")
    if kind == "dedup":
        groups = group_pairs(np.array(ids, object), found, min_score=threshold)
        write_groups(np.array(ids, object), groups, work / "groups.csv")
        return {
            "pairs": evaluate(work / "pairs.csv", truth),
            "groups": evaluate(work / "groups.csv", truth),
        }
    write_pairs(one_to_one(found), work / "one.csv")
    return {
        "pairs": evaluate(work / "pairs.csv", truth, ordered=True),
        "one_to_one": evaluate(work / "one.csv", truth, ordered=True),
    }


def tfidf_run(kind: str, task: DedupTask | MatchTask, fields: Sequence[str], truth: Path, work: Path) -> dict:
    start = time.perf_counter()
    cats = catalogues(task)
    vectorizer, threshold = tfidf(cats, task.train_pairs, fields)
    x = [vectorizer.transform(joined(rows, fields)) for rows in cats.test]
    found = all_pairs_above(x[-1], x[0], threshold, same=kind == "dedup")
    # match: queries are B (right), the base is A (left)
    ids = [[r["id"] for r in rows] for rows in cats.test]
    pairs = as_pairs(found, ids[-1], ids[0]) if kind == "dedup" else as_pairs(_swap(found), ids[0], ids[-1])
    wall = time.perf_counter() - start
    return {
        **baseline_outputs(kind, pairs, threshold, ids[0], truth, work),
        "wall_s": wall,
        "threshold": threshold,
    }


def _swap(found: Sequence[tuple]) -> list[tuple]:
    return [(j, i, s) for i, j, s in found]


def catalogues(task: DedupTask | MatchTask) -> Catalogues:
    if isinstance(task, DedupTask):
        return Catalogues([task.train_catalog], [task.catalog])
    return Catalogues([task.train_catalog_a, task.train_catalog_b], [task.catalog_a, task.catalog_b])


def blocked_candidates(
    query: Sequence[dict[str, str]], base: Sequence[dict[str, str]], fields: Sequence[str], same: bool
) -> list[tuple[int, int]]:
    """Token blocking: per query item, the `BLOCK_K` base items sharing the most idf-weighted
    tokens (tokens in over 5% of the items block nothing)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        analyzer=lambda s: sorted(blocking_tokens(s)), max_df=0.05, use_idf=True, norm=None
    )
    texts = joined(query, fields) + ([] if same else joined(base, fields))
    x = vectorizer.fit_transform(texts)
    xq, xb = (x, x) if same else (x[: len(query)], x[len(query) :])
    xq.data = np.sqrt(xq.data)  # q.b = sum of idf over shared tokens
    xb = xq if same else xb.copy()
    if not same:
        xb.data = np.sqrt(xb.data)
    found = set()
    for start in range(0, xq.shape[0], 1024):
        sims = (xq[start : start + 1024] @ xb.T).toarray()
        if same:
            sims[np.arange(len(sims)), start + np.arange(len(sims))] = 0
        top = np.argsort(-sims, axis=1)[:, :BLOCK_K]
        for r, cols in enumerate(top.tolist()):
            for c in cols:
                if sims[r, c] > 0:
                    pair = (min(start + r, c), max(start + r, c)) if same else (start + r, c)
                    found.add(pair)
    return sorted(found)


def features(
    left: Sequence[dict[str, str]], right: Sequence[dict[str, str]], fields: Sequence[str]
) -> np.ndarray:
    """Per field: Jaro-Winkler, normalised Levenshtein, token Jaccard, exact, missing (text), or
    the min/max ratio and missing (numbers)."""
    from rapidfuzz.distance import JaroWinkler, Levenshtein

    columns = []
    for f in fields:
        a, b = [r[f].strip().lower() for r in left], [r[f].strip().lower() for r in right]
        missing = np.array([not x or not y for x, y in zip(a, b, strict=True)], np.float64)
        if f in NUMERIC:
            columns += [np.array([_ratio(x, y) for x, y in zip(a, b, strict=True)]), missing]
            continue
        columns += [
            np.array([JaroWinkler.similarity(x, y) for x, y in zip(a, b, strict=True)]),
            np.array([Levenshtein.normalized_similarity(x, y) for x, y in zip(a, b, strict=True)]),
            np.array([_jaccard(x, y) for x, y in zip(a, b, strict=True)]),
            np.array([float(bool(x) and x == y) for x, y in zip(a, b, strict=True)]),
            missing,
        ]
    return np.stack(columns, axis=1)


def _ratio(x: str, y: str) -> float:
    try:
        u, v = abs(float(x)), abs(float(y))
    except ValueError:
        return 0.0
    return min(u, v) / max(u, v) if max(u, v) > 0 else 1.0


def _jaccard(x: str, y: str) -> float:
    a, b = set(x.split()), set(y.split())
    return len(a & b) / len(a | b) if a | b else 0.0


def classic_run(
    kind: str, task: DedupTask | MatchTask, fields: Sequence[str], truth: Path, work: Path
) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    cats = catalogues(task)
    left, right, same = cats.train_pair_rows(task.train_pairs)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    x_train = features(left, right, fields)
    folds = cross_val_predict(model, x_train, same, cv=5, method="predict_proba")[:, 1]
    threshold = calibrate_threshold(same, folds)
    model.fit(x_train, same)
    base, query = cats.test[0], cats.test[-1]
    candidates = blocked_candidates(query, base, fields, same=kind == "dedup")
    q = [query[i] for i, _ in candidates]
    b = [base[j] for _, j in candidates]
    p = model.predict_proba(features(q, b, fields))[:, 1] if candidates else np.zeros(0)
    keep = [(i, j, s) for (i, j), s in zip(candidates, p.tolist(), strict=True) if s >= threshold]
    ids = [[r["id"] for r in rows] for rows in cats.test]
    pairs = as_pairs(keep, ids[-1], ids[0]) if kind == "dedup" else as_pairs(_swap(keep), ids[0], ids[-1])
    wall = time.perf_counter() - start
    out = baseline_outputs(kind, pairs, threshold, ids[0], truth, work)
    return {**out, "wall_s": wall, "threshold": threshold, "candidates": len(candidates)}


# ---- one set -------------------------------------------------------------------------------


def run_set(
    name: str, data_root: Path, work: Path, max_entities: int | None, seed: int = 0
) -> dict[str, Any]:
    """Every method on the dedup and the match task of one set."""
    tasks = load_tasks(data_root / name, max_entities, seed)
    fields = FIELDS[name]
    row: dict[str, Any] = {"dataset": name, "sizes": tasks.sizes, "dedup": {}, "match": {}}
    dedup_files = write_dedup(tasks.dedup, work / name / "dedup")
    match_files = write_match(tasks.match, work / name / "match")
    for kind, task, files in (("dedup", tasks.dedup, dedup_files), ("match", tasks.match, match_files)):
        runner = simsearch_dedup if kind == "dedup" else simsearch_match
        folder = work / name / kind
        row[kind]["tfidf"] = tfidf_run(kind, task, fields, files["truth"], folder / "tfidf")
        row[kind]["classic"] = classic_run(kind, task, fields, files["truth"], folder / "classic")
        row[kind]["simsearch"] = runner(files, fields, folder / "simsearch")
        print(json.dumps({name: {kind: row[kind]}}, indent=1, default=str), flush=True)
    return row


# ---- report --------------------------------------------------------------------------------

METHODS = {
    "simsearch": "simsearch defaults",
    "tfidf": "TF-IDF char 2-4",
    "classic": "classic (rapidfuzz + LR)",
}


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| set | task | method | pair P | pair R | pair F1 | groups / one-to-one F1 | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for kind in _kinds(row):
            for method, label in METHODS.items():
                r = row[kind][method]
                p = r["pairs"]
                second = r.get("groups") or r.get("one_to_one")
                lines.append(
                    f"| {row['dataset']} | {kind} | {label} | {100 * p['precision']:.1f} | "
                    f"{100 * p['recall']:.1f} | **{100 * p['f1']:.1f}** | {100 * second['f1']:.1f} | "
                    f"{r['wall_s']:.0f} |"
                )
    return "\n".join(lines)


def verdicts(rows: Sequence[dict[str, Any]]) -> str:
    """One line per set and task: simsearch's pair F1 minus each baseline's."""
    lines = []
    for row in rows:
        for kind in _kinds(row):
            ours = row[kind]["simsearch"]["pairs"]["f1"]
            gaps = ", ".join(
                f"{'+' if ours >= row[kind][m]['pairs']['f1'] else ''}"
                f"{100 * (ours - row[kind][m]['pairs']['f1']):.1f} vs {METHODS[m]}"
                for m in ("tfidf", "classic")
            )
            model = row[kind]["simsearch"]["model"]
            lines.append(
                f"- {row['dataset']} {kind}: simsearch pair F1 {gaps} (points); saved tower: "
                f"{model['chosen']} ({model['validation']} validation), head decides: {model['head_decides']}"
            )
    return "\n".join(lines)


def _kinds(row: dict[str, Any]) -> list[str]:
    """The tasks a row has every method of (a run cut short leaves some out)."""
    return [kind for kind in ("dedup", "match") if set(METHODS) <= set(row.get(kind, {}))]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--datasets", default=",".join(FIELDS))
    parser.add_argument(
        "--quick", action="store_true", help=f"A slice: {QUICK_ENTITIES} linked entities per set."
    )
    parser.add_argument(
        "--max-entities", type=int, help="Linked entities (and as many unlinked items) per set."
    )
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "linkage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="Print the table; do not append it.")
    parser.add_argument(
        "--table-only", action="store_true", help="Run nothing: the table of WORK/linkage.json's sets."
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    entities = args.max_entities or (QUICK_ENTITIES if args.quick else None)
    load = os.getloadavg()
    saved = args.work / "linkage.json"
    rows: list[dict[str, Any]] = json.loads(saved.read_text()) if args.table_only else []
    for name in [] if args.table_only else args.datasets.split(","):
        rows.append(run_set(name, args.data_root, args.work, entities, args.seed))
        saved.write_text(json.dumps(rows, indent=1, default=str))  # each set kept as it ends
    sizes = "\n".join(f"- {r['dataset']}: {json.dumps(r['sizes'])}" for r in rows)
    end_load = os.getloadavg()
    text = (
        f"\n## Dedup and match, defaults against baselines ({'quick slice' if entities else 'full sets'})\n\n"
        f"`python benchmarks/bench_linkage.py {' '.join(sys.argv[1:])}`, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()} {os.cpu_count()}-core CPU, load average {load[0]:.1f} at the start, "
        f"{end_load[0]:.1f} at the end.\n\n{table(rows)}\n\n{verdicts(rows)}\n\nSizes:\n{sizes}\n"
    )
    print(text)
    if not args.no_write:
        with args.results.open("a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
