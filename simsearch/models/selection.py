"""The non-learned baseline as a training candidate, and validation that says how sure it is.

A trained tower is saved only when held-out validation says it beats what needed no training.
The candidates, measured on the same held-out data with the same metric:

- `baseline`: the non-learned baseline of the tower's kind: raw pixels for images, TF-IDF
  cosine over character and word n-grams (the untrained linear tower) for texts and records.
  The linear towers *are* their baseline before training, so for them it is the start state.
- `initial`: the tower as built, before its first step (a pretrained encoder, a PCA whitening),
  when it is not the baseline itself.
- `trained`: the best epoch of training.

Ties go to the simpler candidate, in that order, and a more trained candidate must beat the
simpler one *significantly*: a one-sided paired bootstrap over the held-out units (queries,
one-shot trials, classes or pairs, `paired_p_value`) must give p < `SIGNIFICANCE`. The best of
several epochs is an optimistic pick, and on small validation sets a gain of one or two
queries is noise: a fine-tuned face tower that "won" by 2 genuine pairs of 360 let in 3 times
as many strangers as the frozen descriptor it replaced. Small data changes how validation is drawn:
when `val_fraction` of the classes is fewer than `MIN_VALIDATION_CLASSES`, items are held out
within their classes (new items of known classes searched against the others, as such a
catalogue is used), not as whole classes; fewer than `SMALL_PAIR_SET` labelled pairs (or
`SMALL_ITEM_VALIDATION` held-out items) are cross-validated in `CV_FOLDS` folds.

`select` makes the choice, this rule included, for every training path: one held-out set
(`recipe.choose_on_held_out`) or cross-validation folds (`cross_validation.cross_validate`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs
from simsearch.data.requirements import CV_FOLDS, SMALL_PAIR_SET
from simsearch.evaluation.oneshot import wilson_interval
from simsearch.tower_kinds import tower_kind

__all__ = [
    "CV_FOLDS",
    "SMALL_PAIR_SET",
    "Selection",
    "baseline_settings",
    "best_of",
    "bootstrap_interval",
    "candidates",
    "choose",
    "choose_significant",
    "describe_counts",
    "item_folds",
    "metric_of",
    "mode_of",
    "pair_folds",
    "paired_p_value",
    "select",
    "warn_kept",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SIGNIFICANCE = 0.05  # one-sided p-value below which a trained tower's gain counts
N_BOOT = 500
MIN_VALIDATION_CLASSES = 5  # fewer held-out classes than this and one-shot validation means little
SMALL_ITEM_VALIDATION = 100  # fewer held-out items than this: cross-validate the items instead
CANDIDATES = ("baseline", "initial", "trained")  # simplest first: a tie keeps the simpler one


def baseline_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The settings of `kind`'s non-learned baseline tower, or None when the tower built from
    `settings` starts as that baseline (the linear text and record towers, raw pixels, dlib's
    frozen face descriptor): `TowerKind.baseline_settings`."""
    return tower_kind(kind).baseline_settings(settings)


def metric_of(settings: dict[str, Any]) -> str:
    """A tower's search metric from its settings: cosine when it L2-normalises, else l2."""
    return "cosine" if settings.get("normalize", True) else "l2"


def mode_of(metric: str) -> str:
    """`"min"` for a loss, else `"max"`: which way a monitored metric improves."""
    return "min" if "loss" in metric else "max"


def best_of(values: Sequence[float] | npt.NDArray[np.float64], mode: str) -> float:
    """The best of `values` (`mode` `"min"` or `"max"`); NaN when there are none."""
    if len(values) == 0:
        return float("nan")
    return float(min(values) if mode == "min" else max(values))


def _better(a: float, b: float, mode: str) -> bool:
    return a < b if mode == "min" else a > b


def choose(scores: dict[str, float], mode: str = "max") -> str:
    """The best candidate by held-out `scores`; a later (more trained) one must beat the best
    earlier one strictly. NaN scores never win."""
    best: str | None = None
    for name in CANDIDATES:
        value = scores.get(name)
        if value is None or not np.isfinite(value):
            continue
        if best is None or _better(value, scores[best], mode):
            best = name
    if best is None:
        return "trained"
    return best


@dataclass
class Selection:
    """What validation saw: its kind and size, each candidate's score and the one kept.

    Attributes:
        split: `"classes"` (held-out classes), `"items"` (held-out items of known classes),
            `"pairs"` (held-out pairs), `"given"` (the caller's validation set) or
            `"cross-validation"` (k folds of the labelled pairs) or `"item-cross-validation"`
            (k folds of the labelled items, `models.cross_validation`).
        n: held-out queries (items) or pairs.
        metric: the monitored metric.
        scores: each candidate's held-out value of `metric`.
        chosen: the candidate saved.
        interval: 95% interval of the chosen candidate's value.
        folds: the number of folds, for cross-validation.
        epochs: the trained epoch count cross-validation chose (0 = the start state).
        p_value: the paired test of the trained tower against the best simpler candidate
            (None when not run: no simpler candidate won or could be measured per unit).
        rival: that simpler candidate.
        held_out: with labelled pairs, what the held-out pairs were (`candidates.
            HeldOutCandidates.counts`: the user's pairs, the mined positives and negatives).
    """

    split: str
    n: int
    metric: str
    scores: dict[str, float] = field(default_factory=dict)
    chosen: str = "trained"
    interval: tuple[float, float] | None = None
    folds: int | None = None
    epochs: int | None = None
    p_value: float | None = None
    rival: str | None = None
    held_out: dict[str, Any] | None = None

    def as_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "split": self.split,
            "n": self.n,
            "metric": self.metric,
            "scores": {k: float(v) for k, v in self.scores.items()},
            "chosen": self.chosen,
            "value": float(self.scores.get(self.chosen, float("nan"))),
        }
        if self.interval is not None:
            out["interval95"] = [float(self.interval[0]), float(self.interval[1])]
        if self.folds is not None:
            out["folds"] = self.folds
        if self.epochs is not None:
            out["epochs"] = self.epochs
        if self.p_value is not None:
            out["p_value"] = float(self.p_value)
            out["rival"] = self.rival
        if self.held_out is not None:
            out["held_out"] = self.held_out
        return out


def describe(validation: dict[str, Any]) -> str:
    """One line for `train`'s summary: what validation had and what was kept."""
    what = {
        "classes": "held-out items of held-out classes",
        "items": "held-out items of the training classes",
        "pairs": "held-out pairs",
        "given": "given validation items or pairs",
        "cross-validation": f"pairs in {validation.get('folds')}-fold cross-validation",
        "item-cross-validation": f"items in {validation.get('folds')}-fold cross-validation",
    }.get(validation["split"], validation["split"])
    scores = ", ".join(f"{name} {value:.4f}" for name, value in validation["scores"].items())
    interval = validation.get("interval95")
    band = f" (95% interval {interval[0]:.4f}-{interval[1]:.4f})" if interval else ""
    p = validation.get("p_value")
    rival = {"baseline": "baseline", "initial": "start state"}.get(validation.get("rival") or "", "")
    beaten = "training did not beat it"
    if p is not None and validation["chosen"] != "trained":
        beaten = f"training's gain over the {rival} was not significant (paired bootstrap p={p:.3f})"
    kept = {
        "baseline": f"the non-learned baseline is saved: {beaten}",
        "initial": f"the untrained start state is saved: {beaten}",
        "trained": "the trained tower is saved"
        + (f" (better than the {rival}, paired bootstrap p={p:.3f})" if p is not None else ""),
    }[validation["chosen"]]
    if validation.get("held_out"):
        on = describe_counts(validation["held_out"])
    else:
        on = f"{validation['n']} {what}"
    return f"Validation on {on}, {validation['metric']}: {scores}{band}; {kept}"


def describe_counts(counts: dict[str, Any]) -> str:
    """What `HeldOutCandidates.counts` (stored in a model's config) says, in words."""
    total = counts["user_pairs"] + counts["mined_positives"] + counts["mined_negatives"]
    if not counts.get("k"):
        return f"{total} held-out pairs (the user's; none mined)"
    negatives = (
        f"{counts['mined_negatives']} mined negatives"
        if counts.get("mined_negatives_used", True)
        else "mined negatives off"
    )
    return (
        f"{total} held-out pairs ({counts['user_pairs']} user pairs, {counts['mined_positives']} "
        f"mined positives, {negatives}; mined among the {counts['k']} nearest neighbours of the "
        "held-out items)"
    )


def candidates(
    start: T, trained: T | None, baseline: T | None = None, *, trainable: bool = True
) -> dict[str, T]:
    """What each candidate measured, simplest first: `start` is the baseline itself when the
    tower starts as it (`baseline` None), else the `initial` candidate (when the tower has
    anything to train); `trained` is absent when training gave nothing to choose."""
    measured = {"baseline": start if baseline is None else baseline}
    if baseline is not None and trainable:
        measured["initial"] = start
    if trained is not None:
        measured["trained"] = trained
    return measured


def select(
    selection: Selection,
    outcomes: Callable[[str], Any],
    *,
    keep_baseline: bool,
    where: str,
    trained_best: float,
) -> None:
    """Choose among `selection.scores` the candidate to save, and fill `selection` with it.

    With `keep_baseline`, `choose_significant` (a more trained candidate must beat the simpler
    one significantly on `outcomes(name)`, a `callbacks.Outcomes` per held-out unit); without,
    the trained tower whenever it was trained. A kept simpler candidate is logged, with the
    trained tower's best held-out value `trained_best` on `where` (the held-out data)."""
    mode = mode_of(selection.metric)
    scores = selection.scores
    if keep_baseline:
        selection.chosen, selection.p_value, selection.rival = choose_significant(scores, outcomes, mode)
    else:
        selection.chosen = "trained" if "trained" in scores else choose(scores, mode)
    if selection.chosen != "trained":
        tested = selection.p_value is not None
        warn_kept(selection.chosen, where, selection.metric, trained_best, scores[selection.chosen], tested)


def choose_significant(
    scores: dict[str, float], outcomes: Any, mode: str = "max"
) -> tuple[str, float | None, str | None]:
    """The candidate to save: from the simplest measured one, each more trained candidate
    replaces the one chosen so far only when it scores better *and* `paired_p_value` of their
    `outcomes(name)` (a `callbacks.Outcomes`, or None when not measurable per unit: then the
    scores decide) is below `SIGNIFICANCE`.

    Returns the chosen candidate and the last test run: its p-value and the simpler candidate it
    was against (None, None when no test ran)."""
    order = [name for name in CANDIDATES if name in scores and np.isfinite(scores[name])]
    if not order:
        return "trained", None, None
    chosen, p_value, against = order[0], None, None
    for name in order[1:]:
        if not _better(scores[name], scores[chosen], mode):
            continue
        better, simpler = outcomes(name), outcomes(chosen)
        p = None if better is None or simpler is None else paired_p_value(better, simpler, mode=mode)
        if p is not None:
            p_value, against = p, chosen
        if p is None or p < SIGNIFICANCE:
            chosen = name
    return chosen, p_value, against


def paired_p_value(
    trained: Any, simpler: Any, *, n_boot: int = N_BOOT, seed: int = 0, mode: str = "max"
) -> float | None:
    """One-sided paired bootstrap p-value that `trained` does not beat `simpler`.

    Both are `callbacks.Outcomes` over the same `n` held-out units; each resample draws `n`
    units with replacement and compares the two statistics on the same draw. The p-value is
    `(1 + resamples where trained is not better) / (1 + resamples)`; None when fewer than half
    the resamples are measurable (e.g. one label only).
    """
    if trained.n != simpler.n or trained.n < 2:
        raise ValueError(
            f"Expected two outcomes over the same units. Received: n={trained.n} and n={simpler.n}"
        )
    rng = np.random.default_rng(seed)
    not_better = valid = 0
    for _ in range(n_boot):
        rows = rng.integers(0, trained.n, trained.n)
        a, b = trained.stat(rows), simpler.stat(rows)
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        valid += 1
        not_better += int(a <= b if mode == "max" else a >= b)
    if valid < n_boot // 2:
        return None
    return (1 + not_better) / (1 + valid)


def warn_kept(chosen: str, where: str, monitor: str, best: float, kept: float, tested: bool) -> None:
    """Log that training did not (significantly, when `tested`) beat the saved start candidate
    `chosen` on `where` (the held-out data), with the trained `best` and the `kept` score."""
    logger.warning(
        "Training did not %sbeat the %s on %s (%s %.4f against %.4f): it is saved",
        "significantly " if tested else "",
        "non-learned baseline" if chosen == "baseline" else "untrained tower", where, monitor, best, kept,
    )  # fmt: skip


def interval_for(metric: str, value: float, n: int) -> tuple[float, float] | None:
    """A Wilson interval for the share-of-queries metrics (precision@1, recall@5, one-shot)."""
    if (
        n <= 0
        or not np.isfinite(value)
        or not any(key in metric for key in ("precision_at_1", "recall_at", "oneshot"))
    ):
        return None
    return wilson_interval(round(value * n), n)


def bootstrap_interval(
    fn: Any,
    pairs: Pairs,
    score: npt.NDArray[np.float32],
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The 2.5-97.5 percentile interval of `fn(pairs, score)` over pair resamples (those
    without both labels are skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(pairs), len(pairs))
        sample = pairs.take(rows)
        if sample.same.min() == sample.same.max():
            continue
        values.append(fn(sample, score[rows]))
    if len(values) < n_boot // 2:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def pair_folds(pairs: Pairs, k: int = CV_FOLDS, seed: int = 0) -> list[npt.NDArray[np.int64]]:
    """`k` disjoint held-out row sets covering `pairs`, stratified by label (each fold gets its
    share of the positives and of the negatives)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(pairs), np.int64)
    start = 0  # each label continues where the last one stopped, so the folds' sizes differ by 1
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(pairs.same == label))
        fold[rows] = (start + np.arange(len(rows))) % k
        start = (start + len(rows)) % k
    return [np.flatnonzero(fold == f) for f in range(k)]


def item_folds(
    labels: npt.NDArray[np.int64], k: int = CV_FOLDS, seed: int = 0
) -> list[npt.NDArray[np.int64]]:
    """`k` disjoint held-out row sets of labelled items, each class's items dealt over the folds
    in turn (seeded), so that every fold holds out some items of most classes; classes with a
    single item are never held out (a query without its class in the catalogue tells nothing)."""
    rng = np.random.default_rng(seed)
    fold = np.full(len(labels), -1, np.int64)
    start = 0
    for label in np.unique(labels[labels >= 0]):
        rows = rng.permutation(np.flatnonzero(labels == label))
        if len(rows) < 2:
            continue
        fold[rows] = (start + np.arange(len(rows))) % k
        start = (start + len(rows)) % k
    return [np.flatnonzero(fold == f) for f in range(k)]
