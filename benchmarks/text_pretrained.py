"""STS Benchmark with the pretrained text tower: test Spearman of the cosine, encoder frozen and
fine-tuned.

- frozen: the encoder as sentence-transformers runs it (all-MiniLM-L6-v2 by default), no training;
- fine-tuned: `train_pairs` on sts-train with one of simsearch's losses (label 1 at a score of 4
  or more on Cer et al.'s 0-5 scale, as `simsearch prepare-pairs` labels STS-B), sts-dev for
  early stopping; then the same test measure.

Spearman's rho between the cosine of each test pair and its gold score, x100 (SBERT's convention).

    .venv/bin/python benchmarks/text_pretrained.py --data-root ../shared/data/text_pairs/stsbenchmark
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np

POSITIVE_AT = 4.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, required=True, help="Folder with sts-{train,dev,test}.csv.")
    parser.add_argument("--pretrained", default="all-MiniLM-L6-v2")
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--loss", default="bce", choices=["bce", "contrastive", "softmax", "triplet"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--encoder-learning-rate", type=float, default=2e-5)
    parser.add_argument("--freeze-layers", type=int, default=0)
    parser.add_argument("--limit", type=int, help="Use the first N pairs of each split (a smoke test).")
    parser.add_argument("--frozen-only", action="store_true")
    return parser.parse_args()


def read_split(root: Path, split: str, limit: int | None) -> tuple[list[str], list[str], np.ndarray]:
    """Sentences and gold scores of sts-`split`.csv (tab-separated, no quoting, extra columns ignored)."""
    with (root / f"sts-{split}.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return [r[5] for r in rows], [r[6] for r in rows], np.array([float(r[4]) for r in rows])


def spearman(tower_or_model, left: list[str], right: list[str], scores: np.ndarray) -> float:
    from scipy.stats import spearmanr

    sentences = sorted(set(left) | set(right))
    row = {s: i for i, s in enumerate(sentences)}
    if hasattr(tower_or_model, "encode"):
        e = tower_or_model.encode(sentences)
    else:
        e = tower_or_model.predict({"text": np.array(sentences, object)}, batch_size=128, verbose=0)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    cos = np.sum(e[[row[s] for s in left]] * e[[row[s] for s in right]], axis=1)
    return 100.0 * float(spearmanr(cos, scores).statistic)


def catalogue_and_pairs(splits: dict[str, tuple[list[str], list[str], np.ndarray]]):
    """One catalogue of the distinct train and dev sentences, and their labelled pairs."""
    from simsearch.data.items import Items
    from simsearch.data.pairs import Pairs

    sentences = sorted({s for split in splits.values() for s in (*split[0], *split[1])})
    row = {s: i for i, s in enumerate(sentences)}
    catalog = Items(
        ids=np.arange(len(sentences)),
        labels=np.full(len(sentences), -1),
        classes=(),
        fields={"text": np.array(sentences, object)},
    )
    pairs = {
        name: Pairs(
            np.array([row[s] for s in left]),
            np.array([row[s] for s in right]),
            (scores >= POSITIVE_AT).astype(np.int8),
        )
        for name, (left, right, scores) in splits.items()
    }
    return catalog, pairs


def main() -> None:
    args = parse_args()
    from simsearch.models.towers import TextTowerConfig, build_text_tower
    from simsearch.models.training import train_pairs
    from simsearch.train_config import TrainConfig

    splits = {name: read_split(args.data_root, name, args.limit) for name in ("train", "dev", "test")}
    settings = {
        "architecture": "pretrained",
        "pretrained": args.pretrained,
        "sequence_length": args.sequence_length,
    }
    start = time.perf_counter()
    tower = build_text_tower(splits["test"][0], TextTowerConfig(**settings))  # type: ignore[arg-type]
    result = {"frozen": spearman(tower, *splits["test"]), "frozen_seconds": time.perf_counter() - start}
    print(json.dumps(result), flush=True)
    if args.frozen_only:
        return
    catalog, pairs = catalogue_and_pairs({k: splits[k] for k in ("train", "dev")})
    config = TrainConfig(
        loss=args.loss,
        learning_rate=args.learning_rate,
        encoder_learning_rate=args.encoder_learning_rate,
        epochs=args.epochs,
        steps_per_epoch=math.ceil(len(pairs["train"]) / args.batch_size),
        batch_size=args.batch_size,
        head_epochs=2,
        verbose=2,
    )
    start = time.perf_counter()
    model = train_pairs(
        catalog,
        pairs["train"],
        tower="text",
        tower_settings={**settings, "freeze_layers": args.freeze_layers},
        config=config,
        val_pairs=pairs["dev"],
    )
    result["train_minutes"] = (time.perf_counter() - start) / 60
    result["fine_tuned"] = spearman(model, *splits["test"])
    result["fine_tuned_dev"] = spearman(model, *splits["dev"])
    result["frozen_dev"] = spearman(tower, *splits["dev"])
    result["args"] = {k: str(v) for k, v in vars(args).items()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
