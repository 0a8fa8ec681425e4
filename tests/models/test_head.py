"""Contract tests of the pairwise head: shape and range, its cosine shortcut, config and `.keras`
round trips of `head.keras` on its own, and errors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from simsearch.data.pairs import Pairs
from simsearch.errors import ConfigError
from simsearch.models.head import PairwiseHead, build_head_model

DIM = 8


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Twelve pairs of `(DIM,)` embeddings: four identical, eight random."""
    rng = np.random.default_rng(0)
    u = rng.normal(size=(12, DIM)).astype(np.float32)
    v = rng.normal(size=(12, DIM)).astype(np.float32)
    v[:4] = u[:4]
    return u, v


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_layer_gives_one_probability_per_pair(
    pair: tuple[np.ndarray, np.ndarray], training: bool
) -> None:
    u, v = pair
    p = np.asarray(PairwiseHead(hidden=(16, 8), dropout=0.3)([u, v], training=training))
    assert p.shape == (len(u),)
    assert p.dtype == np.float32
    assert np.all((p > 0.0) & (p < 1.0))
    assert PairwiseHead().compute_output_shape([(5, DIM), (5, DIM)]) == (5,)


def test_with_a_silent_mlp_the_head_is_calibrated_scaled_cosine(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    """The cosine goes straight to the output unit: with the MLP's output unit at zero,
    `p = sigmoid(calibration_scale * cos_weight * cos + calibration_bias)`."""
    u, v = pair
    head = PairwiseHead(hidden=(16,), dropout=0.0)
    head([u, v])
    for weight in head.out.weights:
        weight.assign(np.zeros(weight.shape, np.float32))
    head.cos_weight.assign(3.0)
    head.calibration_scale.assign(2.0)
    head.calibration_bias.assign(-1.0)
    cos = np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    expected = 1.0 / (1.0 + np.exp(-(2.0 * 3.0 * cos - 1.0)))
    np.testing.assert_allclose(np.asarray(head([u, v])), expected, rtol=1e-5)


def test_head_model_takes_named_inputs(pair: tuple[np.ndarray, np.ndarray]) -> None:
    u, v = pair
    model = build_head_model(DIM, hidden=(16,), dropout=0.0)
    assert sorted(model.input) == ["u", "v"]
    assert model.output.shape == (None,)
    p = model.predict({"u": u, "v": v}, verbose=0)
    assert p.shape == (len(u),)
    assert np.all((p > 0.0) & (p < 1.0))


def test_head_keras_file_loads_and_runs_on_its_own(
    pair: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    u, v = pair
    model = build_head_model(DIM, hidden=(16, 8))
    model.get_layer("pairwise_head").cos_weight.assign(
        2.5
    )  # a trained-looking value, not the initial one
    path = tmp_path / "head.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert [layer.name for layer in loaded.layers if "tower" in layer.name] == []
    head = loaded.get_layer("pairwise_head")
    assert isinstance(head, PairwiseHead)
    assert head.hidden == (16, 8)
    assert float(head.cos_weight) == pytest.approx(2.5)
    np.testing.assert_allclose(
        loaded.predict({"u": u, "v": v}, verbose=0),
        model.predict({"u": u, "v": v}, verbose=0),
        atol=1e-7,
    )


def test_layer_config_round_trip() -> None:
    head = PairwiseHead(hidden=(32, 16), dropout=0.25, cos_scale=7.0, name="scorer")
    config = head.get_config()
    assert (config["hidden"], config["dropout"], config["cos_scale"]) == ([32, 16], 0.25, 7.0)
    restored = keras.layers.deserialize(keras.layers.serialize(head))
    assert type(restored) is PairwiseHead
    assert (restored.hidden, restored.dropout, restored.name) == ((32, 16), 0.25, "scorer")
    assert float(restored.cos_weight) == pytest.approx(7.0)
    assert PairwiseHead.from_config(config).get_config() == config


def test_model_config_round_trip_with_weights(pair: tuple[np.ndarray, np.ndarray]) -> None:
    u, v = pair
    model = build_head_model(DIM, hidden=(16,))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        clone.predict({"u": u, "v": v}, verbose=0),
        model.predict({"u": u, "v": v}, verbose=0),
        atol=1e-7,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: PairwiseHead(hidden=(16, 0)),
        lambda: PairwiseHead(dropout=1.0),
        lambda: PairwiseHead(dropout=-0.1),
        lambda: build_head_model(0),
    ],
    ids=["hidden-0", "dropout-1", "dropout-negative", "dim-0"],
)
def test_bad_settings_raise_clear_errors(make) -> None:
    with pytest.raises(ConfigError, match="Expected"):
        make()


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (0, 0, 1.0),
        (5, 5, 1.0),
        (10, 0, 2 * 0.5**10),  # only the all-one-way split is as extreme
        (8, 2, 2 * (1 + 10 + 45) / 2**10),  # P(X <= 2) for X ~ Binomial(10, 1/2), both tails
        (2, 8, 2 * (1 + 10 + 45) / 2**10),
    ],
    ids=["none", "even", "all-one-way", "8-2", "2-8"],
)
def test_mcnemar_p_value_is_the_exact_binomial_test(b: int, c: int, expected: float) -> None:
    from simsearch.models.head_training import mcnemar_p_value

    assert mcnemar_p_value(b, c) == pytest.approx(expected)


def test_rerank_is_on_only_for_a_significant_gain() -> None:
    from simsearch.models.head_training import RerankReport

    def report(head: float, head_only: int, tower_only: int, p: float) -> RerankReport:
        return RerankReport(0.65, head, 0.97, 20, 412, head_only, tower_only, p)

    assert not report(0.658, 9, 6, 0.61).head_helps  # Abt-Buy validation: +3 queries of 412
    assert report(0.70, 30, 9, 0.001).head_helps
    assert not report(0.60, 9, 30, 0.001).head_helps


def _graded_pairs(n: int, seed: int) -> tuple[np.ndarray, Pairs]:
    """SYNTHETIC: unit vectors in pairs whose cosine sweeps [0, 1]; score = 5 * cos**3."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 16))
    noise = rng.normal(size=(n, 16))
    mix = rng.uniform(0.0, 1.0, size=(n, 1))
    v = mix * u / np.linalg.norm(u, axis=1, keepdims=True) + (1 - mix) * noise / np.linalg.norm(
        noise, axis=1, keepdims=True
    )
    embeddings = np.concatenate([u, v]).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    cos = np.sum(embeddings[:n] * embeddings[n:], axis=1)
    score = 5 * np.clip(cos, 0, 1) ** 3
    return embeddings, Pairs(np.arange(n), np.arange(n) + n, (score > 2.5).astype(np.int8), score)


def test_graded_head_learns_a_non_linear_score() -> None:
    from simsearch.evaluation.correlation import pearson
    from simsearch.models.head_training import fit_head_graded

    keras.utils.set_random_seed(0)
    train_e, train = _graded_pairs(3000, seed=1)
    val_e, val = _graded_pairs(600, seed=2)
    # One embedding table: the validation rows after the training rows.
    embeddings = np.concatenate([train_e, val_e])
    shift = len(train_e)
    val = Pairs(val.left + shift, val.right + shift, val.same, val.score)
    head = build_head_model(16)
    history, (low, high) = fit_head_graded(head, embeddings, train, val, epochs=20)
    assert 0.0 <= low < high <= 5.0
    u, v = embeddings[val.left], embeddings[val.right]
    predicted = np.asarray(head.predict({"u": u, "v": v}, verbose=0)).reshape(-1)
    cos = np.sum(u * v, axis=1)
    # The score is cos**3: Pearson of the cosine itself is capped well below 1, the head's is not.
    assert pearson(predicted, val.score) > max(0.97, pearson(cos, val.score) + 0.02)
    assert np.all((predicted >= 0) & (predicted <= 1))
    # The kept epoch is the one with the best held-out Pearson r.
    best = max(history["head_graded_val_pearson"])
    assert best == pytest.approx(pearson(predicted, val.score), abs=1e-4)


def test_graded_head_needs_scores() -> None:
    from simsearch.errors import DataError
    from simsearch.models.head_training import fit_head_graded

    plain = Pairs([0], [1], [1])
    with pytest.raises(DataError, match="graded pairs"):
        fit_head_graded(build_head_model(4), np.eye(4, dtype=np.float32), plain, plain)
