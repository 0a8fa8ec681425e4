"""Train + dedup with the defaults against a TF-IDF threshold pipeline, on a pair file built the
way users build one (issue 26: validation and thresholds on the candidates, training that stops
when it cannot improve).

From a DeepMatcher set (default Abt-Buy under `--data-root`): one catalogue, tableA and tableB
stacked (ids `a<id>`, `b<id>`), and a pair file of the true links of the training split, 4
blocked non-links per link (the left item's nearest unlinked items by TF-IDF character 2-4-gram
cosine) and as many random non-links. Then, timed from the outside (wall clock, subprocesses):

1. simsearch: `train --pairs PAIRS --catalog all.csv --tower record --fields ...` (defaults),
   `build-index`, `dedup` (default -k 10 and calibrated threshold);
2. TF-IDF: char_wb 2-4-grams (sublinear tf) fitted on the catalogue, best-F1 cosine threshold on
   the same pair file, each item's 10 nearest by exact cosine, pairs at or above the threshold.

Both outputs are scored against every true link of the set (train, valid and test splits: pair
precision, recall, F1); the pairs inside tableA or inside tableB that no split labels count as
false, for both.

    python benchmarks/bench_candidates.py --data-root ../shared/data/product_matching/deepmatcher \
        --work runs/candidates [--train-args "--candidates-k 0"] [--results benchmarks/RESULTS.md]

Writes `WORK/result.json`; with `--results`, appends its section to that Markdown file
(`--report WORK/result.json --results FILE` appends a finished run's).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = {"Abt-Buy": "name,description,price", "Walmart-Amazon": "title,category,brand,modelno,price"}
K = 10


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def catalogue(root: Path, fields: list[str], out: Path) -> list[dict[str, str]]:
    """tableA and tableB as one catalogue, ids prefixed `a` and `b`."""
    rows = []
    for side in ("a", "b"):
        for row in read_rows(root / f"table{side.upper()}.csv"):
            rows.append({"id": f"{side}{row['id']}", **{f: row.get(f, "") or "" for f in fields}})
    write_rows(out, rows)
    return rows


def links(root: Path, splits: tuple[str, ...]) -> set[tuple[str, str]]:
    found = set()
    for split in splits:
        for row in read_rows(root / f"{split}.csv"):
            if int(float(row["label"])) == 1:
                found.add((f"a{row['left_id']}", f"b{row['right_id']}"))
    return found


def tfidf(rows: list[dict[str, str]], fields: list[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [" ".join(r[f] for f in fields).lower() for r in rows]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    return vectorizer.fit_transform(texts)


def neighbours(x: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows by cosine (x is L2-normalised): `(sims, rows)`."""
    sims = (x @ x.T).toarray()
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, top, axis=1), top


def user_pairs(
    rows: list[dict[str, str]], truth: set[tuple[str, str]], x: Any, seed: int
) -> list[dict[str, Any]]:
    """True links, 4 blocked non-links per link (the left item's nearest unlinked items by
    TF-IDF) and as many random non-links."""
    rng = np.random.default_rng(seed)
    ids = [r["id"] for r in rows]
    position = {i: n for n, i in enumerate(ids)}
    linked = {frozenset(p) for p in truth}
    _, top = neighbours(x, 20)
    pairs = [{"left_id": a, "right_id": b, "label": 1} for a, b in sorted(truth)]
    blocked = []
    for a, _ in sorted(truth):
        picked = [ids[j] for j in top[position[a]] if frozenset((a, ids[j])) not in linked][:4]
        blocked += [{"left_id": a, "right_id": b, "label": 0} for b in picked]
    random_pairs = []
    while len(random_pairs) < len(blocked):
        a, b = rng.choice(len(ids), 2, replace=False)
        if frozenset((ids[a], ids[b])) not in linked:
            random_pairs.append({"left_id": ids[a], "right_id": ids[b], "label": 0})
    return pairs + blocked + random_pairs


def score(found: set[frozenset[str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    true = {frozenset(p) for p in truth}
    tp = len(found & true)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(true)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"pairs": len(found), "true_pairs": tp, "precision": precision, "recall": recall, "f1": f1}


def tfidf_pipeline(catalog: Path, pairs: Path, fields: list[str], out: Path) -> None:
    """The TF-IDF baseline's whole pipeline, from reading the files to writing the kept pairs
    (run as its own process, `--tfidf-only`, and timed from outside as simsearch's commands are)."""
    from simsearch.evaluation.metrics import calibrate_threshold

    rows = read_rows(catalog)
    x = tfidf(rows, fields)
    position = {r["id"]: n for n, r in enumerate(rows)}
    labelled = read_rows(pairs)
    a = [position[r["left_id"]] for r in labelled]
    b = [position[r["right_id"]] for r in labelled]
    sims = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
    threshold = calibrate_threshold([int(r["label"]) for r in labelled], sims)
    near, top = neighbours(x, K)
    found = {
        tuple(sorted((rows[i]["id"], rows[j]["id"])))
        for i in range(len(rows))
        for s, j in zip(near[i], top[i], strict=True)
        if s >= threshold
    }
    write_rows(
        out, [{"left_id": a, "right_id": b} for a, b in sorted(found)] or [{"left_id": "", "right_id": ""}]
    )


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def simsearch(args: list[str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("a") as f:
        f.write(f"$ simsearch {shlex.join(args)}\n")
        f.flush()
        subprocess.run(
            [sys.executable, "-m", "simsearch", *args], check=True, stdout=f, stderr=subprocess.STDOUT
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--dataset", default="Abt-Buy", choices=sorted(FIELDS))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--train-args", default="", help="Extra `train` options (a variant).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, help="Append the section to this Markdown file.")
    parser.add_argument("--report", type=Path, help="A finished run's result.json to append.")
    parser.add_argument("--tfidf-only", type=Path, help=argparse.SUPPRESS)  # the timed baseline process
    options = parser.parse_args()
    if options.report:
        result = json.loads(options.report.read_text())
        finished = time.gmtime(options.report.stat().st_mtime)  # runs recorded before date/command
        result.setdefault("date", time.strftime("%Y-%m-%d %H:%M UTC", finished))
        result.setdefault(
            "command",
            f"python benchmarks/bench_candidates.py --data-root {options.data_root} --dataset "
            f"{result['dataset']} --work {options.report.parent}",
        )
        append(result, options.results)
        return
    if options.tfidf_only:
        work = options.tfidf_only
        fields = FIELDS[options.dataset].split(",")
        tfidf_pipeline(work / "all.csv", work / "pairs.csv", fields, work / "tfidf.csv")
        return
    if options.data_root is None or options.work is None:
        parser.error("--data-root and --work are required")
    root, work = options.data_root / options.dataset, options.work
    work.mkdir(parents=True, exist_ok=True)
    fields = FIELDS[options.dataset].split(",")
    rows = catalogue(root, fields, work / "all.csv")
    truth = links(root, ("train", "valid", "test"))
    pairs = user_pairs(rows, links(root, ("train",)), tfidf(rows, fields), options.seed)
    write_rows(work / "pairs.csv", pairs)
    tf_out = work / "tfidf.csv"
    tf_seconds = _timed([sys.executable, __file__, "--tfidf-only", str(work), "--dataset", options.dataset])
    tf_found = {frozenset((r["left_id"], r["right_id"])) for r in read_rows(tf_out)}
    log = work / "simsearch.log"
    log.write_text("")
    model, index, out = work / "model", work / "index", work / "dedup.csv"
    train = ["train", "--pairs", str(work / "pairs.csv"), "--catalog", str(work / "all.csv"), "--tower",
             "record", "--fields", FIELDS[options.dataset], "--out", str(model), "--quiet",
             *shlex.split(options.train_args)]  # fmt: skip
    seconds = {"train": simsearch(train, log)}
    seconds["build-index"] = simsearch(["build-index", "--model", str(model), "--catalog",
                                        str(work / "all.csv"), "--index", str(index)], log)  # fmt: skip
    seconds["dedup"] = simsearch(["dedup", "--index", str(index), "--out", str(out)], log)
    found = (
        {frozenset((r["left_id"], r["right_id"])) for r in read_rows(out)} if out.stat().st_size else set()
    )
    config = json.loads((model / "config.json").read_text())
    n_links = sum(p["label"] for p in pairs)
    result = {
        "dataset": options.dataset,
        "items": len(rows),
        "user_pairs": {"links": n_links, "non_links": len(pairs) - n_links},
        "train_args": options.train_args,
        "simsearch": {**score(found, truth), "seconds": seconds, "total_seconds": sum(seconds.values()),
                      "validation": config.get("validation"), "threshold": {
                          k: v for k, v in config["threshold"].items() if k != "curves"},
                      "epochs_trained": config.get("epochs_trained"),
                      "training_skipped": config.get("training_skipped")},
        "tfidf": {**score(tf_found, truth), "seconds": tf_seconds},
    }  # fmt: skip
    result["ratio"] = result["simsearch"]["total_seconds"] / tf_seconds
    result["command"] = shlex.join(["python", "benchmarks/bench_candidates.py", *sys.argv[1:]])
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (work / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if options.results:
        append(result, options.results)


def append(result: dict[str, Any], path: Path | None) -> None:
    """Append (or, without `path`, print) the Markdown section of `result`."""
    s, t = result["simsearch"], result["tfidf"]
    steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in s["seconds"].items())
    ended = f"training skipped: {s['training_skipped']}" if s["training_skipped"] else (
        f"{s['epochs_trained']} training epochs")  # fmt: skip
    validation = s["validation"] or {}
    lines = [
        f"## Train + dedup against a TF-IDF pipeline on a user-built pair file (issue 26, {result['date']})",
        "",
        f"`{result['command']}` on the 2-core machine shared with other developers' jobs (wall clock, "
        f"each step a process). {result['dataset']}: tableA and tableB as one catalogue of "
        f"{result['items']} items; pair file: the training split's {result['user_pairs']['links']} "
        f"true links, 4 TF-IDF-blocked non-links per link and as many random ones "
        f"({result['user_pairs']['non_links']} non-links). Scored against every true link of the "
        "three splits; `train` with defaults"
        + (f" and `{result['train_args']}`" if result["train_args"] else "") + f" ({ended}; saved: "
        f"{validation.get('chosen')}, validation {validation.get('scores')}, held out "
        f"{validation.get('held_out')}; threshold {s['threshold'].get('distance'):.4f} "
        f"({s['threshold'].get('criterion')})).",
        "",
        "| pipeline | pairs | precision | recall | F1 | seconds |",
        "|---|---|---|---|---|---|",
        f"| simsearch train + build-index + dedup | {s['pairs']} | {s['precision']:.3f} | {s['recall']:.3f} "
        f"| {s['f1']:.3f} | {s['total_seconds']:.0f} ({steps}) |",
        f"| TF-IDF char 2-4, best-F1 threshold, 10 nearest | {t['pairs']} | {t['precision']:.3f} | "
        f"{t['recall']:.3f} | {t['f1']:.3f} | {t['seconds']:.0f} |",
        "",
        f"simsearch took {result['ratio']:.1f}x the TF-IDF pipeline's time.",
        "",
    ]  # fmt: skip
    text = "\n".join(lines)
    if path is None:
        print(text)
        return
    with path.open("a", encoding="utf-8") as f:
        f.write("\n" + text)


if __name__ == "__main__":
    main()
