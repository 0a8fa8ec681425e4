"""The untrained lm_record tower (the selection's "initial" candidate) on a DeepMatcher set: test
F1 at the threshold chosen on valid.csv, blocking recall@k, and the encoding time.

    .venv/bin/python -m benchmarks.lm_record_untrained Abt-Buy \
        --data-root ../shared/data/product_matching/deepmatcher
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.match_deepmatcher import FIELDS, KS, read_rows


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("dataset", choices=sorted(FIELDS))
    parser.add_argument("--data-root", type=Path, required=True)
    args = parser.parse_args()

    from simsearch.cli._common import combine, load_catalogs, load_pair_file
    from simsearch.evaluation.metrics import calibrate_threshold, pair_metrics
    from simsearch.models.recipe import build, encode

    folder = args.data_root / args.dataset
    tables = (folder / "tableA.csv", folder / "tableB.csv")
    left, right = load_catalogs(tables, FIELDS[args.dataset].split(","))
    catalog, offset = combine(left, right)
    built = build("lm_record", catalog, {})
    start = time.perf_counter()
    embeddings = encode(built.tower, built.inputs(catalog))
    seconds = time.perf_counter() - start

    def cosines(split: str) -> tuple[np.ndarray, np.ndarray]:
        pairs = load_pair_file(folder / f"{split}.csv", left, right, offset)
        return np.sum(embeddings[pairs.left] * embeddings[pairs.right], axis=1), pairs.same.astype(np.int64)

    valid, valid_same = cosines("valid")
    test, test_same = cosines("test")
    report = pair_metrics(test_same, test, calibrate_threshold(valid_same, valid))
    a_pos = {str(i): n for n, i in enumerate(left.ids.astype(str))}
    b_pos = {str(i): n for n, i in enumerate(right.ids.astype(str))}
    matches = [r for r in read_rows(folder / "test.csv") if r["label"] == "1"]
    sims = embeddings[offset:][[b_pos[r["right_id"]] for r in matches]] @ embeddings[:offset].T
    target = sims[np.arange(len(matches)), [a_pos[r["left_id"]] for r in matches]]
    rank = np.sum(sims > target[:, None], axis=1)
    blocking = {k: float(np.mean(rank < k)) for k in KS}
    rate = len(embeddings) / seconds
    print(json.dumps({"test": report, "blocking": blocking, "records_per_s": rate}, default=float))


if __name__ == "__main__":
    main()
