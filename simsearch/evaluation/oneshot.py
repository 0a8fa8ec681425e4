"""N-way k-shot classification, the one-shot protocol of Lake et al. (2015) on Omniglot.

A trial shows `n_way` classes with `k_shot` support examples each and one query from one of those
classes; the prediction is the class whose support prototype (mean embedding) is nearest to the
query. Trials are drawn at random from labelled embeddings (`n_way_k_shot_accuracy`), or taken
from Lake's 400 official trials (`lake_runs.load_lake_runs`, then `lake_runs_accuracy`), where the
model is plugged in as any `encode(images) -> (n, dim) float32` callable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation.lake_runs import OneShotRun

__all__ = [
    "OneShotResult",
    "Trials",
    "draw_trials",
    "lake_runs_accuracy",
    "n_way_k_shot_accuracy",
    "wilson_interval",
]

logger = logging.getLogger(__name__)

Metric = Literal["cosine", "l2"]
Encode = Callable[[npt.NDArray[np.float32]], npt.ArrayLike]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_METRICS = ("cosine", "l2")
# Bound on the gathered support tensor per chunk of trials (float32 values, 64 MiB).
_CHUNK_VALUES = 1 << 24


@dataclass(frozen=True)
class OneShotResult:
    """Accuracy over one-shot trials.

    Attributes:
        accuracy: share of trials answered correctly.
        correct: number of trials answered correctly.
        n_trials: number of trials.
        n_way: classes shown per trial.
        k_shot: support examples per class.
        ci95: Wilson 95% interval of the accuracy, `(low, high)`.
        protocol: how the trials were drawn, for reports.
        hits: `(n_trials,) bool`, whether each trial was answered correctly (None when not
            kept), for paired comparisons of two embeddings on the same trials.
    """

    accuracy: float
    correct: int
    n_trials: int
    n_way: int
    k_shot: int
    ci95: tuple[float, float]
    protocol: str
    hits: npt.NDArray[np.bool_] | None = field(default=None, compare=False, repr=False)


class Trials(NamedTuple):
    """Drawn trials, as row indices into the labelled set.

    Attributes:
        support: `(n_trials, n_way, k_shot) int64`; `support[t, j]` are the rows of class j.
        query: `(n_trials,) int64` the query row of each trial, never one of its supports.
        answer: `(n_trials,) int64` position in `[0, n_way)` of the query's class.
    """

    support: IntArray
    query: IntArray
    answer: IntArray


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval `(low, high)` for `correct` successes out of `n`.

    Example:
        >>> [round(x, 4) for x in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if n <= 0 or not 0 <= correct <= n:
        raise DataError(f"Expected 0 <= correct <= n and n > 0. Received: correct={correct}, n={n}")
    p, z2 = correct / n, z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ConfigError(f"Expected a positive integer {name}. Received: {name}={value!r}")


def _check_metric(metric: str) -> None:
    if metric not in _METRICS:
        raise ConfigError(f"Expected metric in {_METRICS}. Received: metric={metric!r}")


def _class_members(labels: IntArray, min_items: int) -> dict[int, IntArray]:
    """Map each class with at least `min_items` rows to its rows; negative labels are unlabelled."""
    rows = np.flatnonzero(labels >= 0)
    rows = rows[np.argsort(labels[rows], kind="stable")]
    classes, starts = np.unique(labels[rows], return_index=True)
    members = np.split(rows, starts[1:])
    return {int(c): m for c, m in zip(classes, members, strict=True) if len(m) >= min_items}


def _class_pools(
    labels: IntArray, groups: npt.NDArray[np.generic] | None, n_way: int, k_shot: int
) -> list[list[IntArray]]:
    """Group the usable classes into pools a trial draws from: one per group, or one in all."""
    members = _class_members(labels, k_shot + 1)
    if groups is None:
        pools = {"all": list(members.values())}
    else:
        pools = {}
        for rows in members.values():
            owners = np.unique(groups[rows])
            if len(owners) != 1:
                raise DataError(
                    f"Expected every class inside one group. Received: label={labels[rows[0]]} "
                    f"in groups={owners[:5].tolist()}"
                )
            pools.setdefault(owners[0], []).append(rows)
    usable = [pool for pool in pools.values() if len(pool) >= n_way]
    if len(usable) < len(pools):
        logger.info(
            "Skipping %d of %d groups with fewer than %d classes of %d+ items",
            len(pools) - len(usable),
            len(pools),
            n_way,
            k_shot + 1,
        )
    if not usable:
        largest = max((len(pool) for pool in pools.values()), default=0)
        raise DataError(
            f"Expected a group with at least n_way={n_way} classes of {k_shot + 1}+ items each. "
            f"Received: at most {largest} such classes in a group"
        )
    return usable


def draw_trials(
    labels: npt.ArrayLike,
    *,
    n_way: int = 20,
    k_shot: int = 1,
    n_trials: int = 1000,
    groups: npt.ArrayLike | None = None,
    seed: int = 0,
) -> Trials:
    """Draw random `n_way`-way `k_shot`-shot trials over labelled rows.

    Only classes with at least `k_shot + 1` items take part. With `groups` (e.g. Omniglot
    alphabets), each trial takes a group uniformly among those with `n_way` such classes and draws
    all its classes from it ("within-alphabet" trials). Rows with a negative label are unlabelled
    and never drawn.

    Args:
        labels: `(n,) int` class of each row.
        groups: `(n,)` group of each row, or None to draw classes from all of them.

    Raises:
        ConfigError: a non-positive `n_way`, `k_shot` or `n_trials`, or `n_way` < 2.
        DataError: no group (or not the whole set) has `n_way` usable classes.
    """
    labels_arr = np.asarray(labels)
    if labels_arr.ndim != 1 or not np.issubdtype(labels_arr.dtype, np.integer):
        raise DataError(
            f"Expected labels as a 1-D integer array. Received: shape={labels_arr.shape}, "
            f"dtype={labels_arr.dtype}"
        )
    if n_way < 2:
        raise ConfigError(f"Expected n_way >= 2. Received: n_way={n_way!r}")
    _check_positive(n_way=n_way, k_shot=k_shot, n_trials=n_trials)
    groups_arr = None if groups is None else np.asarray(groups)
    if groups_arr is not None and groups_arr.shape != labels_arr.shape:
        raise DataError(
            f"Expected one group per label. Received: labels={labels_arr.shape}, "
            f"groups={groups_arr.shape}"
        )
    pools = _class_pools(labels_arr, groups_arr, n_way, k_shot)
    rng = np.random.default_rng(seed)
    support = np.empty((n_trials, n_way, k_shot), np.int64)
    query, answer = np.empty(n_trials, np.int64), rng.integers(n_way, size=n_trials)
    for t in range(n_trials):
        pool = pools[rng.integers(len(pools))]
        for j, c in enumerate(rng.choice(len(pool), n_way, replace=False)):
            picked = rng.choice(pool[c], k_shot + (j == answer[t]), replace=False)
            support[t, j] = picked[:k_shot]
            if j == answer[t]:
                query[t] = picked[k_shot]
    return Trials(support, query, answer)


def _l2_normalise(x: FloatArray) -> FloatArray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _prototypes(support: FloatArray, metric: str) -> FloatArray:
    """Mean of each class's supports: `(..., n_way, k_shot, dim)` -> `(..., n_way, dim)`."""
    if metric == "cosine":
        return _l2_normalise(_l2_normalise(support).mean(axis=-2))
    return support.mean(axis=-2)


def _nearest(prototypes: FloatArray, queries: FloatArray, metric: str) -> IntArray:
    """Index of the nearest prototype: `(t, n_way, dim)` or `(n_way, dim)`, `(t, dim)` -> `(t,)`."""
    # For cosine the prototypes are unit length and a query's own norm scales all its scores alike.
    dots = (prototypes @ queries[..., None])[..., 0]
    if metric == "l2":
        # |p - q|^2 = |p|^2 - 2 p.q + |q|^2; |q|^2 is the same for every class of a query.
        dots = 2 * dots - (prototypes**2).sum(axis=-1)
    return np.argmax(dots, axis=-1)


def _check_embeddings(embeddings: npt.ArrayLike, n: int) -> FloatArray:
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != n:
        raise DataError(f"Expected embeddings of shape ({n}, dim). Received: shape={emb.shape}")
    if not np.isfinite(emb).all():
        raise DataError(
            f"Expected finite embeddings. Received: {(~np.isfinite(emb)).sum()} NaN/inf"
        )
    return emb


def _result(
    correct: int,
    n_trials: int,
    n_way: int,
    k_shot: int,
    protocol: str,
    hits: npt.NDArray[np.bool_] | None = None,
) -> OneShotResult:
    return OneShotResult(
        accuracy=correct / n_trials,
        correct=correct,
        n_trials=n_trials,
        n_way=n_way,
        k_shot=k_shot,
        ci95=wilson_interval(correct, n_trials),
        protocol=protocol,
        hits=hits,
    )


def n_way_k_shot_accuracy(
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_way: int = 20,
    k_shot: int = 1,
    n_trials: int = 1000,
    groups: npt.ArrayLike | None = None,
    metric: Metric = "cosine",
    seed: int = 0,
) -> OneShotResult:
    """Measure one-shot accuracy on random trials drawn by `draw_trials`.

    For "cosine", supports are L2-normalised before averaging and compared by cosine; for "l2",
    by Euclidean distance to the plain mean.

    Args:
        embeddings: `(n, dim) float32`.
        labels: `(n,) int64`, negative = unlabelled.
        groups: `(n,)` group of each row (alphabet) for within-group trials, or None.

    Example:
        >>> result = n_way_k_shot_accuracy(embeddings, labels, n_way=5, groups=alphabets)
        >>> result.accuracy, result.ci95
    """
    _check_metric(metric)
    emb = _check_embeddings(embeddings, len(np.asarray(labels)))
    trials = draw_trials(
        labels, n_way=n_way, k_shot=k_shot, n_trials=n_trials, groups=groups, seed=seed
    )
    step = max(1, _CHUNK_VALUES // (n_way * k_shot * emb.shape[1]))
    predicted = np.empty(n_trials, np.int64)
    for start in range(0, n_trials, step):
        chunk = slice(start, start + step)
        prototypes = _prototypes(emb[trials.support[chunk]], metric)
        predicted[chunk] = _nearest(prototypes, emb[trials.query[chunk]], metric)
    scope = "within-group" if groups is not None else "any classes"
    protocol = (
        f"{n_way}-way {k_shot}-shot, {scope}, {n_trials} random trials, {metric}, seed={seed}"
    )
    hits = predicted == trials.answer
    return _result(int(hits.sum()), n_trials, n_way, k_shot, protocol, hits)


def _encode(encode: Encode, images: FloatArray) -> FloatArray:
    emb = np.asarray(encode(images), dtype=np.float32)
    if emb.ndim != 2 or len(emb) != len(images):
        raise DataError(
            f"Expected encode to return ({len(images)}, dim). Received: shape={emb.shape}"
        )
    return _check_embeddings(emb, len(images))


def lake_runs_accuracy(
    encode: Encode, runs: Sequence[OneShotRun], *, metric: Metric = "cosine"
) -> OneShotResult:
    """Score an encoder on Lake's runs: each query goes to its nearest support image.

    Args:
        encode: `encode(images) -> (n, dim) float32` for `(n, h, w, 1) float32` images.
        runs: from `load_lake_runs`.

    Returns:
        Accuracy over all queries of all runs (400 trials for the official set).
    """
    _check_metric(metric)
    if not runs:
        raise DataError("Expected at least one run. Received: runs=[]")
    correct = n_trials = 0
    for run in runs:
        emb = _encode(encode, np.concatenate([run.support, run.queries]))
        support, queries = emb[: len(run.support)], emb[len(run.support) :]
        prototypes = _prototypes(support[:, None, :], metric)
        correct += int((_nearest(prototypes, queries, metric) == run.answer).sum())
        n_trials += len(run.answer)
    n_way = len(runs[0].support)
    protocol = f"Lake et al. 2015 one-shot runs ({len(runs)} runs, {n_way}-way 1-shot), {metric}"
    return _result(correct, n_trials, n_way, 1, protocol)
