"""Losses against their written formulas in plain numpy (loops, no vectorised tricks)."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from simsearch.errors import ConfigError
from simsearch.models import losses as L


def _np_dist(e: np.ndarray, kind: str) -> np.ndarray:
    n = len(e)
    d = np.zeros((n, n))
    for i, j in itertools.product(range(n), range(n)):
        if kind == "cosine":
            d[i, j] = 1 - e[i] @ e[j] / (np.linalg.norm(e[i]) * np.linalg.norm(e[j]))
        else:
            sq = np.sum((e[i] - e[j]) ** 2)
            d[i, j] = sq if kind == "squared" else np.sqrt(sq)
    return d


def _np_triplet(labels: np.ndarray, e: np.ndarray, margin: float, mining: str, kind: str) -> float:
    d = _np_dist(e, kind)
    n = len(labels)
    pos = [(a, p) for a in range(n) for p in range(n) if a != p and labels[a] == labels[p]]
    negs = {a: [x for x in range(n) if labels[x] != labels[a]] for a in range(n)}
    if mining == "batch_all":
        vals = [max(0.0, d[a, p] - d[a, x] + margin) for a, p in pos for x in negs[a]]
        active = [v for v in vals if v > 1e-16]
        return sum(active) / max(len(active), 1)
    if mining == "batch_hard":
        vals = []
        for a in range(n):
            ps = [p for p in range(n) if p != a and labels[p] == labels[a]]
            if ps and negs[a]:
                vals.append(max(0.0, max(d[a, p] for p in ps) - min(d[a, x] for x in negs[a]) + margin))
        return sum(vals) / max(len(vals), 1)
    vals = []
    for a, p in pos:
        if not negs[a]:
            continue
        farther = [d[a, x] for x in negs[a] if d[a, x] > d[a, p]]
        chosen = min(farther) if farther else max(d[a, x] for x in negs[a])
        vals.append(max(0.0, d[a, p] - chosen + margin))
    return sum(vals) / max(len(vals), 1)


def _np_softmax(labels: np.ndarray, e: np.ndarray, scale: float) -> float:
    unit = e / np.linalg.norm(e, axis=1, keepdims=True)
    classes = list(dict.fromkeys(labels.tolist()))
    losses = []
    for i in range(len(labels)):
        if np.sum(labels == labels[i]) < 2:
            continue
        logits, target = [], None
        for c in classes:
            members = [j for j in range(len(labels)) if labels[j] == c and j != i]
            if not members:
                continue
            proto = unit[members].sum(axis=0)
            proto /= np.linalg.norm(proto)
            if c == labels[i]:
                target = len(logits)
            logits.append(scale * unit[i] @ proto)
        logits = np.array(logits)
        log_probs = logits - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
        losses.append(-log_probs[target])
    return float(np.mean(losses))


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 4])
    e = rng.normal(size=(len(labels), 5)).astype("float32")
    e[labels == 0] += 1.0
    return labels, e


@pytest.mark.parametrize("similar_label", [0, 1], ids=["hadsell_y0_similar", "deepmatcher_1_same"])
def test_contrastive_matches_formula(similar_label: int) -> None:
    rng = np.random.default_rng(1)
    d = rng.uniform(0, 2, size=50).astype("float32")
    y = rng.integers(0, 2, size=50)
    margin = 1.3
    y_hadsell = y if similar_label == 0 else 1 - y
    expected = (1 - y_hadsell) * 0.5 * d**2 + y_hadsell * 0.5 * np.maximum(0, margin - d) ** 2
    got = L.ContrastiveLoss(margin=margin, similar_label=similar_label)(y, d)
    np.testing.assert_allclose(float(got), expected.mean(), rtol=1e-5)
    per_pair = np.asarray(L.contrastive_loss(y_hadsell, d, margin))
    np.testing.assert_allclose(per_pair, expected, rtol=1e-5)


def test_contrastive_similar_pair_at_zero_distance_costs_nothing() -> None:
    assert float(L.contrastive_loss(np.array([0]), np.array([0.0]))[0]) == 0.0
    assert float(L.contrastive_loss(np.array([1]), np.array([0.0]), margin=2.0)[0]) == pytest.approx(2.0)


@pytest.mark.parametrize("kind", L.DISTANCES)
def test_pairwise_distances(batch: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    _, e = batch
    np.testing.assert_allclose(np.asarray(L.pairwise_distances(e, kind)), _np_dist(e, kind), atol=1e-5)


@pytest.mark.parametrize("mining", L.MININGS)
@pytest.mark.parametrize("kind", L.DISTANCES)
def test_triplet_matches_formula(batch: tuple[np.ndarray, np.ndarray], mining: str, kind: str) -> None:
    labels, e = batch
    got = float(L.TripletLoss(margin=0.5, mining=mining, distance=kind)(labels, e))
    assert got == pytest.approx(_np_triplet(labels, e, 0.5, mining, kind), rel=1e-4, abs=1e-6)


def test_triplet_zero_when_classes_far_apart() -> None:
    labels = np.array([0, 0, 1, 1])
    e = np.array([[0, 0], [0.1, 0], [10, 0], [10.1, 0]], dtype="float32")
    for mining in L.MININGS:
        assert float(L.triplet_loss(labels, e, margin=1.0, mining=mining)) == pytest.approx(0.0)


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_softmax_matches_formula(batch: tuple[np.ndarray, np.ndarray], scale: float) -> None:
    labels, e = batch
    got = float(L.SoftmaxLoss(scale=scale)(labels, e))
    assert got == pytest.approx(_np_softmax(labels, e, scale), rel=1e-4)


def _np_supcon(labels: np.ndarray, e: np.ndarray, t: float) -> float:
    z = e / np.linalg.norm(e, axis=1, keepdims=True)
    s = z @ z.T / t
    losses = []
    for i in range(len(labels)):
        positives = [p for p in range(len(labels)) if p != i and labels[p] == labels[i] and labels[i] >= 0]
        if not positives:
            continue
        denominator = np.log(sum(np.exp(s[i, a]) for a in range(len(labels)) if a != i))
        losses.append(-np.mean([s[i, p] - denominator for p in positives]))
    return float(np.mean(losses))


@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_supcon_matches_formula(batch: tuple[np.ndarray, np.ndarray], temperature: float) -> None:
    labels, e = batch
    labels = labels.copy()
    labels[:2] = -1  # unlinked items: negatives of every anchor, anchors of none
    got = float(L.SupConLoss(temperature=temperature)(labels, e))
    assert got == pytest.approx(_np_supcon(labels, e, temperature), rel=1e-4)


def test_supcon_is_lower_when_clusters_are_tight() -> None:
    labels = np.array([0, 0, 1, 1])
    tight = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], dtype="float32")
    mixed = np.array([[1, 0], [0, 1], [0, 1], [1, 0.01]], dtype="float32")
    assert float(L.supcon_loss(labels, tight, 0.1)) < float(L.supcon_loss(labels, mixed, 0.1))


def test_pair_bce_matches_formula() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.01, 0.99, size=30).astype("float32")
    s = rng.integers(0, 2, size=30)
    expected = -(s * np.log(p) + (1 - s) * np.log(1 - p))
    np.testing.assert_allclose(float(L.PairBCELoss()(s, p)), expected.mean(), rtol=1e-5)


def _np_cosent(score: np.ndarray, cos: np.ndarray, scale: float) -> float:
    terms = [
        scale * (cos[i] - cos[j])
        for i in range(len(score))
        for j in range(len(score))
        if score[i] < score[j]
    ]
    return float(np.log(1.0 + np.sum(np.exp(terms))))


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_cosent_matches_formula(scale: float) -> None:
    rng = np.random.default_rng(4)
    score = rng.integers(0, 6, size=24).astype("float32")  # ties: equal scores add no term
    cos = rng.uniform(-1, 1, size=24).astype("float32")
    got = float(L.CoSENTLoss(scale=scale)(score, cos))
    assert got == pytest.approx(_np_cosent(score, cos, scale), rel=1e-5)


def test_cosent_depends_only_on_the_order_of_scores() -> None:
    cos = np.array([0.9, 0.1, 0.5, -0.2], "float32")
    graded = np.array([4.8, 0.4, 2.5, 0.0], "float32")
    ranks = np.array([3.0, 1.0, 2.0, 0.0], "float32")
    assert float(L.cosent_loss(graded, cos)) == pytest.approx(float(L.cosent_loss(ranks, cos)))
    # Cosines in the scores' order cost almost nothing; reversed, a lot.
    assert float(L.cosent_loss(graded, cos)) < 0.01
    assert float(L.cosent_loss(graded, -cos)) > 10.0
    # One score for every pair: nothing to order, log(1) = 0.
    assert float(L.cosent_loss(np.ones(4, "float32"), cos)) == 0.0


def test_gradients_are_finite_with_duplicate_embeddings() -> None:
    import tensorflow as tf

    labels = tf.constant([0, 0, 1, 1])
    e = tf.Variable([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    for fn in (lambda: L.triplet_loss(labels, e, mining="batch_hard"), lambda: L.softmax_loss(labels, e)):
        with tf.GradientTape() as tape:
            value = fn()
        assert np.all(np.isfinite(tape.gradient(value, e).numpy()))


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (L.ContrastiveLoss, {"margin": 2.0, "similar_label": 1}),
        (L.TripletLoss, {"margin": 0.3, "mining": "batch_hard", "distance": "cosine"}),
        (L.SoftmaxLoss, {"scale": 10.0}),
        (L.PairBCELoss, {}),
        (L.CoSENTLoss, {"scale": 5.0}),
        (L.SupConLoss, {"temperature": 0.1}),
    ],
    ids=["contrastive", "triplet", "softmax", "bce", "cosent", "supcon"],
)
def test_config_round_trip(cls: type, kwargs: dict) -> None:
    loss = cls(**kwargs)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is cls
    for key, value in kwargs.items():
        assert getattr(restored, key) == value


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.TripletLoss(mining="hardest"),
        lambda: L.TripletLoss(distance="manhattan"),
        lambda: L.ContrastiveLoss(margin=0),
        lambda: L.ContrastiveLoss(similar_label=2),
        lambda: L.SoftmaxLoss(scale=-1),
        lambda: L.CoSENTLoss(scale=0),
        lambda: L.SupConLoss(temperature=0),
    ],
    ids=["mining", "distance", "margin", "label", "scale", "cosent_scale", "temperature"],
)
def test_bad_settings_raise_clear_errors(make) -> None:
    with pytest.raises(ConfigError, match="Expected"):
        make()
