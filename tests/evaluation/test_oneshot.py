"""One-shot trials: drawing, prototype classification, Wilson interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation import oneshot
from simsearch.evaluation.lake_runs import OneShotRun


def _clustered(n_classes: int, per_class: int, dim: int = 16, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    embeddings = centers[labels] + noise * rng.normal(size=(len(labels), dim))
    return embeddings.astype(np.float32), labels.astype(np.int64)


def _groups(labels: np.ndarray, classes_per_group: list[int]) -> np.ndarray:
    """Assign consecutive classes to groups "g0", "g1", ... of the given sizes."""
    group_of_class = np.repeat([f"g{i}" for i in range(len(classes_per_group))], classes_per_group)
    return group_of_class[labels]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("k_shot", [1, 3], ids=["1shot", "3shot"])
def test_clustered_embeddings_score_perfectly(metric, k_shot):
    embeddings, labels = _clustered(30, 5)
    result = oneshot.n_way_k_shot_accuracy(
        embeddings, labels, n_way=20, k_shot=k_shot, n_trials=200, metric=metric
    )
    assert (result.accuracy, result.correct, result.n_trials) == (1.0, 200, 200)
    assert (result.n_way, result.k_shot) == (20, k_shot)
    assert result.ci95[1] == pytest.approx(1.0) and result.ci95[0] > 0.98


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_random_embeddings_score_near_chance(metric):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(60), 10)
    embeddings = rng.normal(size=(len(labels), 32)).astype(np.float32)
    n_way, n_trials = 5, 2000
    result = oneshot.n_way_k_shot_accuracy(
        embeddings, labels, n_way=n_way, n_trials=n_trials, metric=metric, seed=3
    )
    sd = math.sqrt((1 / n_way) * (1 - 1 / n_way) / n_trials)
    assert abs(result.accuracy - 1 / n_way) < 4.5 * sd


def _predict_by_loop(embeddings, trials, metric):
    """Nearest prototype, written out one trial at a time."""
    predicted = []
    for support, query in zip(trials.support, trials.query, strict=True):
        scores = []
        for rows in support:
            vectors = embeddings[rows].astype(np.float64)
            q = embeddings[query].astype(np.float64)
            if metric == "cosine":
                vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
                prototype = vectors.mean(axis=0)
                scores.append(prototype @ q / np.linalg.norm(prototype) / np.linalg.norm(q))
            else:
                scores.append(-np.linalg.norm(vectors.mean(axis=0) - q))
        predicted.append(int(np.argmax(scores)))
    return np.array(predicted)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_accuracy_matches_a_direct_loop(metric):
    embeddings, labels = _clustered(12, 8, dim=6, noise=1.2, seed=5)  # overlapping classes
    # Norms that vary within a class: cosine must normalise each support before averaging.
    embeddings *= np.random.default_rng(6).uniform(0.1, 10.0, size=(len(embeddings), 1))
    kwargs = {"n_way": 6, "k_shot": 3, "n_trials": 300, "seed": 11}
    result = oneshot.n_way_k_shot_accuracy(embeddings, labels, metric=metric, **kwargs)
    trials = oneshot.draw_trials(labels, **kwargs)
    expected = int((_predict_by_loop(embeddings, trials, metric) == trials.answer).sum())
    assert 0.3 < expected / 300 < 0.95  # neither trivial nor hopeless, so the check has teeth
    assert result.correct == expected


def test_cosine_ignores_the_norm_of_each_embedding():
    embeddings, labels = _clustered(12, 8, dim=6, noise=1.2, seed=5)
    scaled = embeddings * np.random.default_rng(6).uniform(0.1, 10.0, size=(len(embeddings), 1))
    kwargs = {"n_way": 6, "k_shot": 3, "n_trials": 300}
    plain = oneshot.n_way_k_shot_accuracy(embeddings, labels, **kwargs)
    assert oneshot.n_way_k_shot_accuracy(scaled, labels, **kwargs).correct == plain.correct


def test_draw_trials_structure():
    _, labels = _clustered(25, 6)
    trials = oneshot.draw_trials(labels, n_way=7, k_shot=2, n_trials=300, seed=4)
    assert trials.support.shape == (300, 7, 2)
    assert trials.query.shape == trials.answer.shape == (300,)
    support_classes = labels[trials.support]  # (t, n_way, k_shot)
    assert (support_classes == support_classes[:, :, :1]).all()  # each slot holds one class
    assert all(len(np.unique(row)) == 7 for row in support_classes[:, :, 0])  # distinct classes
    answer_class = support_classes[np.arange(300), trials.answer, 0]
    assert (labels[trials.query] == answer_class).all()
    assert not (trials.support == trials.query[:, None, None]).any()  # query is a fresh item
    assert set(np.unique(trials.answer)) == set(range(7))  # the answer position varies


def test_draw_trials_within_groups():
    # 4 groups: 10, 3, 8 and 2 classes; with n_way=5 only g0 and g2 qualify.
    _, labels = _clustered(23, 4)
    groups = _groups(labels, [10, 3, 8, 2])
    trials = oneshot.draw_trials(labels, n_way=5, n_trials=400, groups=groups, seed=2)
    trial_groups = groups[trials.support[:, :, 0]]
    assert (trial_groups == trial_groups[:, :1]).all()
    assert (groups[trials.query] == trial_groups[:, 0]).all()
    assert set(np.unique(trial_groups)) == {"g0", "g2"}


def test_draw_trials_is_seeded():
    _, labels = _clustered(10, 4)
    first = oneshot.draw_trials(labels, n_way=4, n_trials=50, seed=9)
    again = oneshot.draw_trials(labels, n_way=4, n_trials=50, seed=9)
    other = oneshot.draw_trials(labels, n_way=4, n_trials=50, seed=10)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first.support, other.support)


def test_draw_trials_skips_small_classes_and_unlabelled_rows():
    _, labels = _clustered(8, 3)
    labels[labels == 0] = -1  # unlabelled
    labels[np.flatnonzero(labels == 1)[1:]] = 2  # class 1 keeps one item, too few for a query
    trials = oneshot.draw_trials(labels, n_way=6, n_trials=200, seed=0)
    drawn = np.unique(labels[np.r_[trials.support.ravel(), trials.query]])
    assert drawn.tolist() == [2, 3, 4, 5, 6, 7]


def test_draw_trials_errors_when_no_group_qualifies():
    _, labels = _clustered(9, 3)
    groups = _groups(labels, [4, 5])
    with pytest.raises(DataError, match=r"n_way=6 classes.*at most 5"):
        oneshot.draw_trials(labels, n_way=6, groups=groups)


def test_draw_trials_errors_without_enough_classes():
    _, labels = _clustered(4, 3)
    with pytest.raises(DataError, match="n_way=5"):
        oneshot.draw_trials(labels, n_way=5)


def test_draw_trials_rejects_a_class_split_across_groups():
    labels = np.repeat(np.arange(4), 2)
    groups = np.array(["a", "b", "a", "a", "b", "b", "a", "a"])
    with pytest.raises(DataError, match="inside one group"):
        oneshot.draw_trials(labels, n_way=2, groups=groups)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_way": 1}, ConfigError, "n_way >= 2"),
        ({"k_shot": 0}, ConfigError, "k_shot"),
        ({"n_trials": 0}, ConfigError, "n_trials"),
        ({"metric": "dot"}, ConfigError, "metric"),
    ],
    ids=["n_way", "k_shot", "n_trials", "metric"],
)
def test_bad_settings(kwargs, error, match):
    embeddings, labels = _clustered(5, 3)
    with pytest.raises(error, match=match):
        oneshot.n_way_k_shot_accuracy(embeddings, labels, **{"n_way": 3, **kwargs})


@pytest.mark.parametrize(
    ("embeddings", "labels", "match"),
    [
        (np.zeros((5, 4)), np.zeros(6, int), r"shape \(6, dim\)"),
        (np.full((4, 2), np.nan), np.arange(4), "finite"),
        (np.zeros((4, 2)), np.array([0.0, 1.0, 0.0, 1.0]), "integer"),
    ],
    ids=["length", "nan", "float_labels"],
)
def test_bad_data(embeddings, labels, match):
    with pytest.raises(DataError, match=match):
        oneshot.n_way_k_shot_accuracy(embeddings, labels, n_way=2)


def test_protocol_names_the_setting():
    embeddings, labels = _clustered(6, 3)
    groups = _groups(labels, [6])
    result = oneshot.n_way_k_shot_accuracy(
        embeddings, labels, n_way=5, n_trials=10, groups=groups, metric="l2"
    )
    assert result.protocol == "5-way 1-shot, within-group, 10 random trials, l2, seed=0"


@pytest.mark.parametrize(
    ("correct", "n", "expected"),
    [(8, 10, (0.4902, 0.9433)), (0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0))],
    ids=["8_of_10", "none", "all"],
)
def test_wilson_interval_known_values(correct, n, expected):
    assert oneshot.wilson_interval(correct, n) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_narrows_with_n():
    low_small, high_small = oneshot.wilson_interval(50, 100)
    low_big, high_big = oneshot.wilson_interval(5000, 10000)
    assert low_small < low_big < 0.5 < high_big < high_small


@pytest.mark.parametrize(("correct", "n"), [(3, 2), (-1, 5), (0, 0)], ids=["over", "neg", "n0"])
def test_wilson_interval_rejects_bad_counts(correct, n):
    with pytest.raises(DataError, match="0 <= correct <= n"):
        oneshot.wilson_interval(correct, n)


def _synthetic_runs(n_runs: int = 3, n_way: int = 8, seed: int = 0) -> list[OneShotRun]:
    """Runs whose queries are noisy copies of their answer's support image."""
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n_runs):
        support = rng.random((n_way, 6, 6, 1)).astype(np.float32)
        answer = rng.permutation(n_way)
        queries = support[answer] + 0.01 * rng.normal(size=support.shape).astype(np.float32)
        runs.append(OneShotRun(support, queries, answer, name=f"run{i:02d}"))
    return runs


def _flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_lake_runs_accuracy_on_synthetic_runs(metric):
    result = oneshot.lake_runs_accuracy(_flatten, _synthetic_runs(), metric=metric)
    assert (result.correct, result.n_trials, result.n_way, result.k_shot) == (24, 24, 8, 1)
    assert result.protocol.startswith("Lake et al. 2015 one-shot runs (3 runs, 8-way 1-shot)")


def test_lake_runs_accuracy_counts_wrong_answers():
    runs = [
        OneShotRun(run.support, run.queries, (run.answer + 1) % len(run.answer), run.name)
        for run in _synthetic_runs()
    ]
    assert oneshot.lake_runs_accuracy(_flatten, runs).correct == 0


def test_lake_runs_accuracy_checks_the_encoder_output():
    with pytest.raises(DataError, match=r"encode to return \(16, dim\)"):
        oneshot.lake_runs_accuracy(lambda x: _flatten(x)[:3], _synthetic_runs())
    with pytest.raises(DataError, match="at least one run"):
        oneshot.lake_runs_accuracy(_flatten, [])
