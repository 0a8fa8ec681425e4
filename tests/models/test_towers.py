"""Contract suite of the towers: build, call, shape, norm, config and `.keras` round trips, errors.

Every tower kind runs through the same checks; each tower is built once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.models.record_layers import NumericEncoding, NumericKernel
from simsearch.models.towers import (
    ImageTowerConfig,
    RecordTowerConfig,
    TextTowerConfig,
    build_image_tower,
    build_record_tower,
    build_text_tower,
)

# SYNTHETIC product titles, for the vocabularies of the text and record towers.
TITLES = np.array(
    [
        "apple iphone 12 64gb black",
        "samsung galaxy s21 ultra",
        "sony wh-1000xm4 headphones",
        "dell xps 13 laptop 16gb",
        "logitech mx master 3 mouse",
        "kindle paperwhite 8gb",
    ],
    dtype=object,
)
PRICES = np.array([799.0, np.nan, 349.0, -1.0, 0.0, 139.99], dtype=np.float32)
SMALL_TEXT = {
    "max_tokens": 200,
    "sequence_length": 8,
    "token_dim": 8,
    "hidden": 32,
    "ngram_tokens": 300,
}
DIM = 16


@dataclass(frozen=True)
class Case:
    """A tower to build and a batch it takes."""

    kind: str
    settings: dict[str, Any]

    def build(self) -> keras.Model:
        if self.kind == "image":
            return build_image_tower(ImageTowerConfig(embedding_dim=DIM, **self.settings))
        if self.kind == "text":
            return build_text_tower(TITLES, TextTowerConfig(embedding_dim=DIM, **SMALL_TEXT, **self.settings))
        config = RecordTowerConfig(
            text_fields=("title",),
            numeric_fields=("price",),
            embedding_dim=DIM,
            hidden=32,
            ngram_tokens=300,
            **self.settings,
        )
        return build_record_tower({"title": TITLES, "price": PRICES}, config)

    def batch(self) -> Any:
        if self.kind == "image":
            size = self.settings.get("image_size", (28, 28))
            return np.random.default_rng(0).uniform(size=(4, *size, 1)).astype(np.float32)
        if self.kind == "text":
            # Unseen words and an empty string go through the out-of-vocabulary path.
            return {"text": np.array([*TITLES[:2], "unseen gadget", ""], dtype=object)}
        return {"title": TITLES, "price": PRICES}

    @property
    def normalize(self) -> bool:
        return self.settings.get("normalize", True)


CASES = {
    "image-light": Case("image", {"blocks": 2, "filters": 8}),
    "image-light-raw-inverted": Case(
        "image", {"blocks": 2, "filters": 8, "normalize": False, "invert": True}
    ),
    "image-koch-65": Case("image", {"architecture": "koch", "image_size": (65, 65)}),  # Koch's smallest
    "text-conv": Case("text", {"pooling": "conv"}),
    "text-gru": Case("text", {"pooling": "gru"}),
    "text-mean-words-only": Case("text", {"pooling": "mean", "char_ngrams": False}),
    "text-linear": Case("text", {"architecture": "linear"}),
    "record-text-numeric": Case("record", {}),
    "record-mlp": Case("record", {"architecture": "mlp"}),
}


@pytest.fixture(scope="session", params=list(CASES.values()), ids=list(CASES))
def built(request: pytest.FixtureRequest) -> tuple[Case, keras.Model]:
    case: Case = request.param
    return case, case.build()


def _n(batch: Any) -> int:
    return len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch)


def test_call_gives_one_finite_embedding_per_item(built: tuple[Case, keras.Model]) -> None:
    case, tower = built
    batch = case.batch()
    out = np.asarray(tower(batch))
    assert out.shape == (_n(batch), DIM)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out)), "NaN numeric values or empty texts leaked into the embedding"
    assert tower.output.shape == (None, DIM)


def test_embeddings_have_unit_norm_when_normalized(built: tuple[Case, keras.Model]) -> None:
    case, tower = built
    norms = np.linalg.norm(np.asarray(tower(case.batch())), axis=1)
    if case.normalize:
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    else:
        assert not np.allclose(norms, 1.0, atol=1e-3)


def test_inference_is_deterministic(built: tuple[Case, keras.Model]) -> None:
    case, tower = built
    batch = case.batch()
    np.testing.assert_array_equal(np.asarray(tower(batch)), np.asarray(tower(batch)))


def _vectorizers(model: keras.Model) -> dict[str, Any]:
    from simsearch.models.bags import NgramCounts

    kinds = (keras.layers.TextVectorization, NgramCounts)
    return {layer.name: layer for layer in model.layers if isinstance(layer, kinds)}


def test_keras_file_round_trip_keeps_outputs_and_vocabulary(
    built: tuple[Case, keras.Model], tmp_path: Path
) -> None:
    case, tower = built
    batch = case.batch()
    path = tmp_path / "tower.keras"
    tower.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(batch, verbose=0), tower.predict(batch, verbose=0), rtol=1e-6, atol=1e-6
    )
    original, restored = _vectorizers(tower), _vectorizers(loaded)
    assert set(restored) == set(original)
    assert (case.kind == "image") == (not original)
    for name, vectorizer in original.items():
        assert restored[name].get_vocabulary() == vectorizer.get_vocabulary()


def test_config_round_trip_rebuilds_the_same_architecture(built: tuple[Case, keras.Model]) -> None:
    case, tower = built
    clone = keras.Model.from_config(tower.get_config())
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in tower.layers]
    assert [w.shape for w in clone.weights] == [w.shape for w in tower.weights]
    assert clone.output.shape == tower.output.shape
    if case.kind == "image":  # text vocabularies travel in .keras assets, not in the config
        clone.set_weights(tower.get_weights())
        batch = case.batch()
        np.testing.assert_allclose(np.asarray(clone(batch)), np.asarray(tower(batch)), atol=1e-6)


def test_koch_tower_has_the_papers_39m_parameters() -> None:
    tower = build_image_tower(
        ImageTowerConfig(image_size=(105, 105), architecture="koch", embedding_dim=4096, normalize=False)
    )
    assert 38e6 < tower.count_params() < 40e6
    assert tower.output.shape == (None, 4096)


@pytest.mark.parametrize("case", ["record-text-numeric", "record-mlp"])
def test_record_tower_tells_missing_numbers_from_zero(case: str) -> None:
    tower = CASES[case].build()
    if case == "record-text-numeric":
        # The linear tower's numeric branch starts at zero (the untrained tower is TF-IDF
        # cosine); give it weights to see what the encoding feeds it.
        dense = tower.get_layer("price_dense")
        dense.kernel.assign(np.ones(dense.kernel.shape, np.float32))
    title = np.array([TITLES[0]], dtype=object)
    missing = np.asarray(tower({"title": title, "price": np.array([np.nan], np.float32)}))
    zero = np.asarray(tower({"title": title, "price": np.array([0.0], np.float32)}))
    assert not np.allclose(missing, zero, atol=1e-6)


def test_numeric_encoding_matches_signed_log_and_missing_flag() -> None:
    x = np.array([0.0, 1.0, -1.0, np.e - 1.0, -1000.0, np.nan], dtype=np.float32)
    expected = np.array(
        [[0, 0], [np.log(2), 0], [-np.log(2), 0], [1, 0], [-np.log(1001), 0], [0, 1]],
        dtype=np.float32,
    )
    layer = NumericEncoding()
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-6)
    assert layer.compute_output_shape((6,)) == (6, 2)
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is NumericEncoding
    np.testing.assert_allclose(np.asarray(restored(x)), expected, rtol=1e-6)


BAD_SETTINGS = {
    "image-blocks-0": (ConfigError, lambda: build_image_tower(ImageTowerConfig(blocks=0))),
    "image-filters-0": (ConfigError, lambda: build_image_tower(ImageTowerConfig(filters=0))),
    "image-dim-0": (ConfigError, lambda: build_image_tower(ImageTowerConfig(embedding_dim=0))),
    "image-dropout-1": (ConfigError, lambda: build_image_tower(ImageTowerConfig(dropout=1.0))),
    "image-architecture": (
        ConfigError,
        lambda: build_image_tower(ImageTowerConfig(architecture="resnet")),  # type: ignore[arg-type]
    ),
    "image-koch-at-28": (
        ConfigError,
        lambda: build_image_tower(ImageTowerConfig(architecture="koch")),
    ),
    "text-pooling": (
        ConfigError,
        lambda: build_text_tower(TITLES, TextTowerConfig(pooling="max")),  # type: ignore[arg-type]
    ),
    "text-dim-0": (ConfigError, lambda: build_text_tower(TITLES, TextTowerConfig(embedding_dim=0))),
    "text-hidden-negative": (
        ConfigError,
        lambda: build_text_tower(TITLES, TextTowerConfig(hidden=-1)),
    ),
    "text-dropout-negative": (
        ConfigError,
        lambda: build_text_tower(TITLES, TextTowerConfig(dropout=-0.1)),
    ),
    "text-no-texts": (DataError, lambda: build_text_tower([], TextTowerConfig())),
    "record-no-fields": (
        ConfigError,
        lambda: build_record_tower({"title": TITLES}, RecordTowerConfig()),
    ),
    "record-missing-field": (
        DataError,
        lambda: build_record_tower({"title": TITLES}, RecordTowerConfig(text_fields=("brand",))),
    ),
    "record-dropout-1.5": (
        ConfigError,
        lambda: build_record_tower({"title": TITLES}, RecordTowerConfig(text_fields=("title",), dropout=1.5)),
    ),
    "record-dim-0": (
        ConfigError,
        lambda: build_record_tower(
            {"title": TITLES}, RecordTowerConfig(text_fields=("title",), embedding_dim=0)
        ),
    ),
}


@pytest.mark.parametrize(("error", "build"), list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS))
def test_bad_settings_raise_clear_errors(error: type[Exception], build: Any) -> None:
    with pytest.raises(error, match="Expected"):
        build()


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_numeric_kernel_inner_product_is_a_gaussian_kernel_of_the_log_ratio(sigma: float) -> None:
    prices = np.array([10.0, 11.0, 12.5, 20.0, 40.0, 199.0, 205.99, -3.0], np.float32)
    layer = NumericKernel(features=8192, sigma=sigma, seed=3)
    phi = np.asarray(layer(prices))
    z = np.sign(prices) * np.log1p(np.abs(prices))
    expected = np.exp(-((z[:, None] - z[None, :]) ** 2) / (2 * sigma**2))
    # Random Fourier features: the error shrinks as features**-0.5 (8192 -> about 0.016).
    np.testing.assert_allclose(phi @ phi.T, expected, atol=0.05)
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert (restored.features, restored.sigma, restored.seed) == (8192, sigma, 3)
    np.testing.assert_allclose(np.asarray(restored(prices)), phi, atol=1e-6)  # same seeded draw


def test_numeric_kernel_encodes_missing_as_zeros() -> None:
    phi = np.asarray(NumericKernel(features=16)(np.array([np.nan, 5.0], np.float32)))
    assert phi.shape == (2, 16)
    np.testing.assert_array_equal(phi[0], 0.0)
    assert np.linalg.norm(phi[1]) > 0.5
    with pytest.raises(ConfigError, match="sigma > 0"):
        NumericKernel(sigma=0.0)


def test_record_tower_cosine_counts_price_agreement() -> None:
    titles = np.array(["adobe dreamweaver cs3 upgrade"] * 3, dtype=object)
    prices = np.array([199.0, 205.99, 19.95], np.float32)
    tower = build_record_tower(
        {"title": titles, "price": prices},
        RecordTowerConfig(text_fields=("title",), numeric_fields=("price",), embedding_dim=1024),
    )
    e = np.asarray(tower({"title": titles, "price": prices}))
    # Same title: prices 3% apart are closer than prices 10x apart.
    assert e[0] @ e[1] > e[0] @ e[2] + 0.05
    assert {f"price_kernel_{j}" for j in range(3)} <= {layer.name for layer in tower.layers}
    plain = build_record_tower(
        {"title": titles, "price": prices},
        RecordTowerConfig(text_fields=("title",), numeric_fields=("price",), numeric_scales=()),
    )
    assert not any(isinstance(layer, NumericKernel) for layer in plain.layers)


PRODUCT_TITLES = np.array(
    ["sony turntable pslx350h belt drive", "sony pslx350h turntable", "bose acoustimass 5 speaker",
     "bose acoustimass 5 series iii speaker system", "lg dishwasher lds4821ww white",
     "lg 24 semi integrated dishwasher lds4821wh", "canon powershot sd1100", "apple ipod nano 8gb"],
    dtype=object,
)  # fmt: skip


def _tfidf_oracle(fit: list[str], texts: list[str]) -> np.ndarray:
    """scikit-learn's char_wb 2-4-gram TF-IDF with the towers' sublinear tf (log(1 + count)) and
    Keras's idf (log(1 + n / (1 + df))), rows L2-normalised."""
    from sklearn.feature_extraction.text import CountVectorizer

    counts = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(fit)
    df = (counts.transform(fit).toarray() > 0).sum(axis=0)
    bag = np.log1p(counts.transform(texts).toarray()) * np.log1p(len(fit) / (1 + df))
    return bag / np.linalg.norm(bag, axis=1, keepdims=True)


def test_char_wb_ngrams_match_scikit_learn() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    from simsearch.models.bags import char_wb_ngrams

    analyzer = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4)).build_analyzer()
    texts = ["sony dvd-r 4.7gb", "a", "", "  two  spaces "]
    got = char_wb_ngrams(np.array(texts, dtype=object)).to_list()
    for text, grams in zip(texts, got, strict=True):
        assert sorted(g.decode() for g in grams) == sorted(analyzer(text))


def test_tfidf_bag_matches_the_formula() -> None:
    """With `oov_buckets=0` (the towers saved before) the bag is sublinear TF-IDF over the
    record, n-gram by n-gram against the oracle above; unknown n-grams weigh nothing."""
    from sklearn.feature_extraction.text import CountVectorizer

    from simsearch.models.bags import ngram_bag

    vectorizer, tfidf = ngram_bag("t", PRODUCT_TITLES, 50_000, "chars", oov_buckets=0)
    new = ["sony turntable qqqq", "zzzz lg dishwasher"]  # unseen n-grams in both
    bag = np.array(tfidf(vectorizer(np.array(new, dtype=object))))
    assert bag[:, 0].max() == 0  # the out-of-vocabulary count
    bag /= np.linalg.norm(bag, axis=1, keepdims=True)
    oracle = _tfidf_oracle(list(PRODUCT_TITLES), new)
    sklearn_vocabulary = (
        CountVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(PRODUCT_TITLES).vocabulary_
    )
    keras_vocabulary = vectorizer.get_vocabulary()
    assert sorted(keras_vocabulary[1:]) == sorted(sklearn_vocabulary)
    columns = [sklearn_vocabulary[token] for token in keras_vocabulary[1:]]
    assert np.allclose(bag[:, 1:], oracle[:, columns], atol=1e-5)


def test_tfidf_bag_weighs_unknown_ngrams_at_the_highest_idf() -> None:
    """By default an n-gram missing from the training vocabulary counts at idf log(1 + n) (df 0),
    hashed into its own feature: the cosines of new texts are the oracle's whose vocabulary also
    has the new n-grams but whose idf is still from the training records; a shared new model
    number brings two texts together."""
    from sklearn.feature_extraction.text import CountVectorizer

    from simsearch.models.bags import NgramCounts, ngram_bag

    counter, tfidf = ngram_bag("t", PRODUCT_TITLES, 50_000, "chars")
    assert isinstance(counter, NgramCounts)
    new = ["sony turntable qx9", "lg dishwasher qx9 zzzz", "samsung ue55 tv", "samsung ue40 tv"]
    bag = np.array(tfidf(counter(np.array(new, dtype=object))))
    bag /= np.linalg.norm(bag, axis=1, keepdims=True)
    counts = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit([*PRODUCT_TITLES, *new])
    df = (counts.transform(PRODUCT_TITLES).toarray() > 0).sum(axis=0)
    oracle = np.log1p(counts.transform(new).toarray()) * np.log1p(len(PRODUCT_TITLES) / (1 + df))
    oracle /= np.linalg.norm(oracle, axis=1, keepdims=True)
    assert np.allclose(bag @ bag.T, oracle @ oracle.T, atol=1e-5)
    before_counter, before_tfidf = ngram_bag("b", PRODUCT_TITLES, 50_000, "chars", oov_buckets=0)
    before = np.array(before_tfidf(before_counter(np.array(new, dtype=object))))
    before /= np.maximum(np.linalg.norm(before, axis=1, keepdims=True), 1e-12)
    # The first two share only the new "qx9": nothing in common without the buckets.
    assert before[0] @ before[1] < 1e-6 and bag[0] @ bag[1] > 0.3


def test_ngram_counts_words_and_reload(tmp_path: Path) -> None:
    """The word unit strips punctuation as Keras's TextVectorization does; the layer saves and
    loads with its vocabulary."""
    from simsearch.models.bags import NgramCounts

    layer = NgramCounts("words", ["sony", "tv"], oov_buckets=4, name="w")
    inputs = keras.Input((), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    texts = np.array(["Sony, TV!", "sony qx9 qx9"], dtype=object)
    out = np.asarray(model(texts))
    assert out.shape == (2, 6)
    assert out[0].tolist() == [0, 0, 0, 0, 1, 1]
    assert out[1, 4] == 1 and out[1, :4].sum() == 2 and out[1, :4].max() == 2  # qx9 twice, one bucket
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert np.array_equal(np.asarray(loaded(texts)), out)


def test_linear_record_tower_starts_as_tfidf_cosine() -> None:
    """Untrained, the linear tower's cosine is TF-IDF cosine over the record's text (the
    random projection preserves it up to ~1/sqrt(dim))."""
    texts = PRODUCT_TITLES
    config = RecordTowerConfig(text_fields=("title",), embedding_dim=2048, word_weight=0.0)
    tower = build_record_tower({"title": texts}, config)
    assert tower.name == "record_tower"
    assert build_text_tower(texts, TextTowerConfig(architecture="linear")).name == "text_tower"
    e = np.asarray(tower({"title": texts}))
    bag = _tfidf_oracle(list(texts), list(texts))
    iu = np.triu_indices(len(texts), 1)
    assert np.corrcoef((e @ e.T)[iu], (bag @ bag.T)[iu])[0, 1] > 0.95
    assert np.abs((e @ e.T)[iu] - (bag @ bag.T)[iu]).max() < 0.1


def test_linear_record_tower_joins_the_fields_into_one_bag() -> None:
    """Two fields count as one record text, as TF-IDF over the joined fields does: the same
    words split differently across the fields give the same embedding, untrained."""
    brand = np.array(["sony", "bose", "lg", "canon"], dtype=object)
    title = np.array(
        ["turntable pslx350h", "acoustimass 5 speaker", "dishwasher lds4821ww", "sd1100"], dtype=object
    )
    config = RecordTowerConfig(text_fields=("brand", "title"), embedding_dim=256)
    tower = build_record_tower({"brand": brand, "title": title}, config)
    apart = np.asarray(tower({"brand": brand, "title": title}))
    moved = np.asarray(tower({"brand": np.array([""] * 4, dtype=object), "title": brand + " " + title}))
    assert np.allclose(apart, moved, atol=1e-5)
