"""Evaluate a model's embeddings and pair scorer on labelled data: the report behind
`simsearch evaluate`. Models come in as arrays and a `score_pairs(u, v) -> (n,)` callable."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs, make_pairs
from simsearch.errors import DataError
from simsearch.evaluation.correlation import pearson, spearman
from simsearch.evaluation.metrics import (
    calibrate_threshold,
    equal_error_rate,
    far_curve,
    pair_metrics,
    reliability,
)
from simsearch.evaluation.oneshot import n_way_k_shot_accuracy
from simsearch.evaluation.retrieval import pair_retrieval_metrics, retrieval_metrics

__all__ = [
    "Evaluation",
    "add_decision",
    "add_reranker",
    "all_pairs_far_curve",
    "evaluate_items",
    "evaluate_pairs",
    "pair_distances",
    "tar_at_far",
]

ScorePairs = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Evaluation:
    """A report (section -> metrics) and the pair arrays the plots are drawn from."""

    report: dict[str, dict[str, Any]]
    same: npt.NDArray[np.int8]
    distances: npt.NDArray[np.float32]
    probabilities: npt.NDArray[np.float32] | None = None
    notes: list[str] = field(default_factory=list)


def pair_distances(u: np.ndarray, v: np.ndarray, metric: str) -> npt.NDArray[np.float32]:
    """`1 - cos` for `"cosine"`, the true Euclidean distance for `"l2"`, over the last axis (which
    broadcasts): `(n,) float32` for two `(n, dim)` arrays."""
    if metric == "cosine":
        un = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)
        vn = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
        return (1.0 - np.sum(un * vn, axis=-1)).astype(np.float32)
    return np.linalg.norm(u - v, axis=-1).astype(np.float32)


def all_pairs_far_curve(
    embeddings: npt.ArrayLike, labels: npt.ArrayLike, metric: str, max_items: int = 400, seed: int = 0
) -> dict[str, Any] | None:
    """The `far_curve` of the distance over every pair of labelled items (at most `max_items`,
    drawn seeded); None without both genuine and impostor pairs."""
    e, y = np.asarray(embeddings, dtype=np.float32), np.asarray(labels)
    rows = np.flatnonzero(y >= 0)
    if len(rows) > max_items:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_items, replace=False))
    left, right = np.triu_indices(len(rows), 1)
    same = (y[rows][left] == y[rows][right]).astype(np.int64)
    if same.all() or not same.any():
        return None
    return far_curve(same, _distance_matrix(e[rows], metric)[left, right])


def _distance_matrix(e: np.ndarray, metric: str) -> npt.NDArray[np.float64]:
    """`(n, n)` distances of `pair_distances` from the Gram matrix (memory n², not n² dim)."""
    x = e.astype(np.float64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return 1.0 - x @ x.T
    sq = np.sum(x * x, axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))


def tar_at_far(curve: Mapping[str, Any], max_far: float) -> float:
    """The share of genuine pairs accepted at the loosest threshold of a `far_curve` whose
    false-accept rate is at most `max_far`."""
    return float(max(row[2] for row in curve["rows"] if row[1] <= max_far))


def _pair_sections(
    u: np.ndarray,
    v: np.ndarray,
    same: np.ndarray,
    *,
    score_pairs: ScorePairs | None,
    metric: str,
    threshold: Mapping[str, Any] | None,
    notes: list[str],
) -> tuple[dict[str, dict[str, Any]], np.ndarray, np.ndarray | None]:
    distances = pair_distances(u, v, metric)
    stored = dict(threshold or {})
    sections: dict[str, dict[str, Any]] = {}
    if stored.get("distance") is None:
        stored["distance"] = -calibrate_threshold(same, -distances)
        notes.append("No stored distance threshold: calibrated on these pairs (optimistic).")
    dist = pair_metrics(same, -distances, -float(stored["distance"]))
    dist["threshold"] = float(stored["distance"])
    dist["eer"] = equal_error_rate(same, -distances)
    sections["pairs (tower distance)"] = dist
    probabilities = None
    if score_pairs is not None:
        probabilities = np.asarray(score_pairs(u, v), dtype=np.float32).reshape(-1)
        if stored.get("probability") is None:
            stored["probability"] = calibrate_threshold(same, probabilities)
            notes.append("No stored head threshold: calibrated on these pairs (optimistic).")
        sections["pairs (pairwise head)"] = pair_metrics(same, probabilities, float(stored["probability"]))
        sections["pairs (pairwise head)"]["eer"] = equal_error_rate(same, probabilities)
        rows, ece = reliability(same, probabilities)
        sections["pairs (pairwise head)"]["expected_calibration_error"] = ece
        # Is the head's score a probability? Predicted against observed, bin by bin.
        sections["reliability (pairwise head)"] = {
            f"p {row['low']:.1f}-{row['high']:.1f}": (
                f"n {row['n']}, predicted {row['predicted']:.3f}, observed {row['observed']:.3f}"
            )
            for row in rows
        }
    return sections, distances, probabilities


def evaluate_items(
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    score_pairs: ScorePairs | None = None,
    metric: str = "cosine",
    threshold: Mapping[str, Any] | None = None,
    groups: npt.ArrayLike | None = None,
    n_way: int = 20,
    k_shot: int = 1,
    n_trials: int = 1000,
    ks: Sequence[int] = (1, 5, 10),
    n_pairs: int = 10_000,
    seed: int = 0,
) -> Evaluation:
    """Evaluate embeddings of labelled items: pairs at the threshold, N-way k-shot, retrieval.

    Pairs are balanced random pairs of the items; one-shot trials are drawn within groups when
    `groups` is given and some group has `n_way` classes (Lake's within-alphabet protocol).
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    lab = np.asarray(labels, dtype=np.int64)
    notes: list[str] = []
    pairs = make_pairs(lab, n_pairs, seed=seed)
    sections, distances, probabilities = _pair_sections(
        emb[pairs.left],
        emb[pairs.right],
        pairs.same,
        score_pairs=score_pairs,
        metric=metric,
        threshold=threshold,
        notes=notes,
    )
    n_classes = len(np.unique(lab[lab >= 0]))
    way = min(n_way, n_classes)
    if way < n_way:
        notes.append(f"Only {n_classes} classes: one-shot trials are {way}-way.")
    use_groups = groups is not None and _has_group_with(np.asarray(groups), lab, way)
    if groups is not None and not use_groups:
        notes.append(f"No group has {way} classes: one-shot trials draw from all classes.")
    oneshot = n_way_k_shot_accuracy(
        emb,
        lab,
        n_way=way,
        k_shot=k_shot,
        n_trials=n_trials,
        groups=groups if use_groups else None,
        metric=metric,  # type: ignore[arg-type]
        seed=seed,
    )
    sections["one-shot"] = {
        "accuracy": oneshot.accuracy,
        "ci95": oneshot.ci95,
        "n_trials": oneshot.n_trials,
        "protocol": oneshot.protocol,
    }
    sections["retrieval"] = dict(retrieval_metrics(emb, lab, ks=ks, metric=metric))  # type: ignore[arg-type]
    return Evaluation(sections, pairs.same, distances, probabilities, notes)


def evaluate_pairs(
    left: npt.ArrayLike,
    right: npt.ArrayLike,
    pairs: Pairs,
    *,
    score_pairs: ScorePairs | None = None,
    metric: str = "cosine",
    threshold: Mapping[str, Any] | None = None,
    graded: npt.ArrayLike | None = None,
    ks: Sequence[int] = (),
    one_catalog: bool = True,
) -> Evaluation:
    """Evaluate labelled pairs (`same` 1 = the same item) of two embedding tables.

    With `graded` (`(n,)` human similarity scores, STS-B / SICK), also Spearman's and Pearson's
    correlation of the tower's similarity (`-distance`) and of the head's probability with them.
    With `ks`, also paraphrase retrieval: each item of a positive pair searches the other side's
    items of the pair file (both sides when `one_catalog`, i.e. `left is right`) for its partner.
    """
    u = np.asarray(left, dtype=np.float32)[pairs.left]
    v = np.asarray(right, dtype=np.float32)[pairs.right]
    notes: list[str] = []
    sections, distances, probabilities = _pair_sections(
        u, v, pairs.same, score_pairs=score_pairs, metric=metric, threshold=threshold, notes=notes
    )
    if graded is not None:
        sections["graded similarity"] = _correlations(graded, distances, probabilities, len(pairs.same))
    if ks and pairs.same.any():
        sections["pair retrieval"] = _pair_retrieval(left, right, pairs, ks, metric, one_catalog)
    return Evaluation(sections, pairs.same, distances, probabilities, notes)


def add_reranker(
    evaluation: Evaluation,
    probabilities: npt.ArrayLike,
    *,
    threshold: float | None,
    graded: npt.ArrayLike | None = None,
    name: str = "cross-encoder",
) -> None:
    """Add a re-ranker's scores of the same pairs to `evaluation`: its pair metrics at
    `threshold` (calibrated on these pairs, with a note, when None) as `"pairs (NAME)"`, and
    with `graded` its Spearman and Pearson correlations as `"spearman (NAME)"`, ..."""
    scores = np.asarray(probabilities, dtype=np.float32).reshape(-1)
    same = evaluation.same
    if scores.shape != same.shape:
        raise DataError(
            f"Expected {len(same)} re-ranker scores, one per pair. Received: shape={scores.shape}"
        )
    if threshold is None:
        threshold = calibrate_threshold(same, scores)
        evaluation.notes.append(f"No stored {name} threshold: calibrated on these pairs (optimistic).")
    section = pair_metrics(same, scores, float(threshold))
    section["eer"] = equal_error_rate(same, scores)
    evaluation.report[f"pairs ({name})"] = section
    if graded is not None:
        gold = np.asarray(graded, dtype=np.float64)
        correlations = evaluation.report.setdefault("graded similarity", {})
        correlations[f"spearman ({name})"] = spearman(scores, gold)
        correlations[f"pearson ({name})"] = pearson(scores, gold)


def add_decision(
    evaluation: Evaluation, values: npt.ArrayLike, *, scorer: str, threshold: float, rule: str
) -> None:
    """Add the `"decision"` section: the scorer and threshold that `dedup` and `match` apply
    (`simsearch.dedup.choose_decision`), and their precision, recall and F1 on these pairs.

    Args:
        values: `(n,)` the scorer's values of the pairs: distances for `scorer="distance"` (kept
            at most `threshold`), else scores (kept at least `threshold`).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.shape != evaluation.same.shape:
        raise DataError(f"Expected {len(evaluation.same)} values, one per pair. Received: shape={x.shape}")
    signed, cut = (-x, -threshold) if scorer == "distance" else (x, threshold)
    metrics = pair_metrics(evaluation.same, signed, cut)
    keys = ("precision", "recall", "f1", "accuracy", "n_pairs", "n_positive")
    kept = int(np.sum(signed >= cut))
    section = {"scorer": scorer, "threshold": float(threshold), "rule": rule, "kept": kept}
    evaluation.report = {"decision": {**section, **{k: metrics[k] for k in keys}}, **evaluation.report}


def _correlations(
    graded: npt.ArrayLike, distances: np.ndarray, probabilities: np.ndarray | None, n: int
) -> dict[str, Any]:
    gold = np.asarray(graded, dtype=np.float64)
    if gold.shape != (n,):
        raise DataError(f"Expected graded scores of shape ({n},). Received: shape={gold.shape}")
    out: dict[str, Any] = {
        "spearman (tower)": spearman(-distances, gold),
        "pearson (tower)": pearson(-distances, gold),
    }
    if probabilities is not None:
        out["spearman (head)"] = spearman(probabilities, gold)
        out["pearson (head)"] = pearson(probabilities, gold)
    out["n_pairs"] = n
    return out


def _pair_retrieval(
    left: npt.ArrayLike, right: npt.ArrayLike, pairs: Pairs, ks: Sequence[int], metric: str, one_catalog: bool
) -> dict[str, Any]:
    positive = pairs.same == 1
    table = np.asarray(left, dtype=np.float32)
    if one_catalog:
        candidates = np.union1d(pairs.left, pairs.right)
        return pair_retrieval_metrics(
            table,
            pairs.left[positive],
            pairs.right[positive],
            candidates,
            ks=ks,
            metric=metric,  # type: ignore[arg-type]
        )
    # Queries from the right catalogue search the left one's items of the pair file. `right is
    # left` when both sides index one combined table (as the CLI passes it): no stacked copy.
    shift = 0
    if right is not left:
        shift = len(table)
        table = np.concatenate([table, np.asarray(right, np.float32)])
    return pair_retrieval_metrics(
        table,
        pairs.right[positive] + shift,
        pairs.left[positive],
        np.unique(pairs.left),
        ks=ks,
        metric=metric,  # type: ignore[arg-type]
        both_ways=False,
    )


def _has_group_with(groups: np.ndarray, labels: np.ndarray, n_way: int) -> bool:
    return any(len(np.unique(labels[(groups == g) & (labels >= 0)])) >= n_way for g in np.unique(groups))
