"""How the record tower's untrained start ranks against bench_linkage's TF-IDF baseline.

No training: on each DeepMatcher slice of `bench_linkage` (its dedup and match tasks), the record
tower is built from the training catalogue(s) as `simsearch train --tower record` builds it, and
every evaluation pair (dedup: all pairs of the catalogue; match: every B-A pair) is scored by the
start's cosine and by the bench's TF-IDF (scikit-learn `char_wb` 2-4, sublinear tf, fitted on
every item, fields joined). Average precision and best F1 over the same pairs, for the start as
it is, as it was before `oov_buckets` (n-grams missing from the training vocabulary at idf 0)
and variants (no word bag, no numeric kernels, the exact bag cosine without the random
projection), so the gap can be put down to its causes.

    python benchmarks/start_vs_tfidf.py --quick --datasets Amazon-Google,Walmart-Amazon
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_linkage import DATA_ROOT, FIELDS, NUMERIC, QUICK_ENTITIES, joined, load_tasks  # noqa: E402


def scores_of(same: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    p, r, _ = precision_recall_curve(same, score)
    f1 = np.max(2 * p * r / np.maximum(p + r, 1e-12))
    return {"ap": float(average_precision_score(same, score)), "best_f1": float(f1)}


def pair_matrix(xq: np.ndarray, xb: np.ndarray, dedup: bool) -> np.ndarray:
    sims = xq @ xb.T
    if dedup:
        return sims[np.triu_indices(len(xq), k=1)]
    return sims.ravel()


def truth_matrix(task: Any, dedup: bool) -> np.ndarray:
    if dedup:
        group = {r["id"]: r["group"] for r in task.truth}
        g = np.array([group[r["id"]] for r in task.catalog], object)
        return (g[:, None] == g[None, :])[np.triu_indices(len(g), k=1)]
    links = {(r["left_id"], r["right_id"]) for r in task.truth}
    return np.array([(a["id"], b["id"]) in links for b in task.catalog_b for a in task.catalog_a])


def _fields_only(rows: list[dict], fields: Sequence[str]) -> list[dict]:
    return [{f: r[f] for f in fields} for r in rows]


def _encoder(model: Any, config: Any) -> Any:
    from simsearch.models.inputs import record_inputs

    text, numeric = list(config.text_fields), list(config.numeric_fields)

    def encode(rows: list[dict]) -> np.ndarray:
        x = record_inputs(_fields_only(rows, [*text, *numeric]), text, numeric)
        return np.asarray(model.predict(x, verbose=0, batch_size=512))

    return encode


def tower_variants(train_rows: list[dict], fields: Sequence[str]) -> dict[str, Any]:
    """Record-tower encoders (`rows -> unit vectors`) from the training rows, untrained."""
    import keras

    from simsearch.models.inputs import record_inputs
    from simsearch.models.towers import RecordTowerConfig, build_record_tower

    text = [f for f in fields if f not in NUMERIC]
    numeric = [f for f in fields if f in NUMERIC]
    columns = record_inputs(_fields_only(train_rows, fields), text, numeric)
    base = RecordTowerConfig(text_fields=tuple(text), numeric_fields=tuple(numeric))
    variants = {
        "start before (oov_buckets=0)": dataclasses.replace(base, oov_buckets=0),
        "start (defaults)": base,
        "no word bag": dataclasses.replace(base, word_weight=0.0),
        "no numeric": dataclasses.replace(base, numeric_fields=()),
        "chars only": dataclasses.replace(base, word_weight=0.0, numeric_fields=()),
    }
    out = {}
    for name, config in variants.items():
        tower = build_record_tower(columns, config)
        out[name] = _encoder(tower, config)
        if name == "chars only":  # the exact char bag, before the random projection
            exact = keras.Model(tower.inputs, tower.get_layer("char_l2").output)
            out["chars only, exact (no projection)"] = _encoder(exact, config)
    return out


def sklearn_variants(every: list[dict], train_rows: list[dict], fields: Sequence[str]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = [f for f in fields if f not in NUMERIC]
    out = {}
    for name, fit_rows, use in (
        ("TF-IDF bench (fit on all, price as text)", every, fields),
        ("TF-IDF fit on train only", train_rows, fields),
        ("TF-IDF no price text", every, text),
        ("TF-IDF train only, no price text", train_rows, text),
    ):
        v = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
        v.fit(joined(fit_rows, use))
        out[name] = lambda rows, v=v, use=use: v.transform(joined(rows, use)).toarray()
    return out


def run(name: str, data_root: Path, entities: int | None) -> dict[str, Any]:
    tasks = load_tasks(data_root / name, entities)
    fields = FIELDS[name]
    result: dict[str, Any] = {}
    for kind in ("dedup", "match"):
        dedup = kind == "dedup"
        task = tasks.dedup if dedup else tasks.match
        if dedup:
            train_rows, query, base = list(task.train_catalog), list(task.catalog), list(task.catalog)
            every = train_rows + query
        else:
            train_rows = list(task.train_catalog_a) + list(task.train_catalog_b)
            query, base = list(task.catalog_b), list(task.catalog_a)
            every = train_rows + query + base
        same = truth_matrix(task, dedup)
        encoders = {**sklearn_variants(every, train_rows, fields), **tower_variants(train_rows, fields)}
        result[kind] = {
            label: scores_of(same, pair_matrix(enc(query), enc(base), dedup))
            for label, enc in encoders.items()
        }
        result[kind]["(pairs, links)"] = [int(same.size), int(same.sum())]
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--datasets", default=",".join(FIELDS))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    entities = QUICK_ENTITIES if args.quick else None
    for name in args.datasets.split(","):
        result = run(name, args.data_root, entities)
        for kind, rows in result.items():
            print(f"\n{name} {kind} {rows.pop('(pairs, links)')} (pairs, links)")
            for label, s in rows.items():
                print(f"  {label:45s} AP {s['ap']:.3f}  best F1 {s['best_f1']:.3f}")
        print(json.dumps({name: result}), file=sys.stderr)


if __name__ == "__main__":
    main()
