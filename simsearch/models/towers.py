"""Towers: the network that turns one item into one embedding, shared by both sides of a pair.

- `build_image_tower`: a light conv net (default, sized for a CPU) or Koch et al.'s 2015 net;
- `build_text_tower`: TextVectorization + embedding + conv / GRU / mean pooling, plus a bag of
  character n-grams; the vocabulary is adapted from the training texts and saved with the model;
- `build_record_tower`: several named text and numeric fields into one embedding;
- `architecture="pretrained"` (text) and `"hybrid"` (record): a pretrained sentence encoder
  (BERT, e.g. all-MiniLM-L6-v2, loaded from local files by `simsearch.models.pretrained`).

Text and record towers take a dict of named inputs; a text tower's one input is `"text"`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import keras
import numpy as np
from keras import layers

from simsearch.errors import ConfigError, DataError
from simsearch.models.backbones import BACKBONES, backbone_body
from simsearch.models.bags import OOV_BUCKETS, PositiveScale, joined_texts, ngram_bag
from simsearch.models.inputs import normalize_text
from simsearch.models.record_layers import FeatureWeights, NumericEncoding, NumericKernel, Scale

__all__ = [
    "ImageTowerConfig",
    "RecordTowerConfig",
    "TextTowerConfig",
    "build_image_tower",
    "build_record_tower",
    "build_text_tower",
]

TEXT_INPUT = "text"
KOCH_MIN_SIZE = 65  # the smallest input its four valid convolutions and three poolings accept
IMAGE_ARCHITECTURES = ("light", "koch", *BACKBONES, "pixels", "linear")
# The starting weight of each numeric kernel block beside the text bags (learned from there):
# chosen on the DeepMatcher *training* pairs, untrained mean AP over Abt-Buy, Amazon-Google and
# Walmart-Amazon 0.698 at 0.2 against 0.694 at 0.3 and 0.690 at 0.1.
KERNEL_WEIGHT = 0.2
# Share of the mean within-class variance added to every direction before whitening: 0.3 was best
# on held-out splits of ORL faces (80-82% 20-way one-shot, from 1e-3 to 3).
WHITENING_SHRINKAGE = 0.3


@dataclass(frozen=True)
class ImageTowerConfig:
    """Settings of an image tower.

    `architecture="light"`: `blocks` × (3×3 conv, batch norm, ReLU, 2×2 max pool) with `filters`
    channels, then a dense projection: at 28×28 it encodes ~5k images/s on 2 CPU cores.
    `architecture="koch"`: Koch et al. (2015) at 105×105, 39M parameters, ~175 images/s on 2 cores.
    `"mobilenetv3_small"`, `"mobilenetv3_large"`, `"efficientnet_b0"`: that `keras.applications`
    backbone without its classifier (average pooled) and a dense projection; `weights` is a local
    weights file of the headless backbone (Keras's `*_no_top*.h5`), None to train from scratch.
    Nothing is downloaded. Grey images are tiled to RGB inside the model.
    `"pixels"`: no learned layer, the raw pixels flattened (`embedding_dim` is `h * w * channels`):
    the nearest-neighbour-on-raw-pixels baseline, run through the same commands as a tower.
    `"linear"`: one dense layer on the pixels, started (given the training images and labels) as
    PCA to `embedding_dim` followed by whitening of the within-class scatter, so that before
    training its distances are those of the classic intra-personal whitening of face
    recognition, and training moves it from there; few weights, for a few hundred images.
    """

    image_size: tuple[int, int] = (28, 28)
    channels: int = 1
    architecture: Literal[
        "light", "koch", "mobilenetv3_small", "mobilenetv3_large", "efficientnet_b0", "pixels", "linear"
    ] = "light"
    blocks: int = 4
    filters: int = 64
    embedding_dim: int = 128
    dropout: float = 0.0
    normalize: bool = True
    invert: bool = False
    weights: str | None = None


@dataclass(frozen=True)
class TextTowerConfig:
    """Settings of a text tower: the linear TF-IDF tower of `RecordTowerConfig` over the one
    text (`architecture="linear"`, the default: char 2-4-gram and word bags with learned n-gram
    weights, a fixed random projection to `embedding_dim`; untrained, its cosine is TF-IDF
    cosine, the non-learned baseline), or a word sequence with `pooling` plus a char n-gram
    TF-IDF bag (`"sequence"`, which lost to TF-IDF on a held-out similar-question set).

    `"pretrained"`: the sentence encoder `pretrained` (a known name or a model directory) as
    sentence-transformers runs it (mean pooling, L2 normalisation), fine-tuned by training
    except its first `freeze_layers` blocks (and embeddings; more than its depth freezes all);
    texts are cut at `sequence_length` subword tokens, and the embedding is the encoder's width
    (`embedding_dim` does not apply).
    """

    architecture: Literal["sequence", "linear", "pretrained"] = "linear"
    word_weight: float = 0.5
    embedding_dim: int = 512
    pooling: Literal["conv", "gru", "mean"] = "conv"
    max_tokens: int = 20_000
    sequence_length: int = 64
    token_dim: int = 64
    hidden: int = 256
    char_ngrams: bool = True
    ngram_tokens: int = 20_000
    dropout: float = 0.1
    normalize: bool = True
    pretrained: str = "all-MiniLM-L6-v2"
    freeze_layers: int = 0


@dataclass(frozen=True)
class RecordTowerConfig:
    """Settings of a record tower: text fields as TF-IDF bags of character 2-4-grams (and, in
    the linear tower, of words), numeric fields as a signed log with a missing-value flag.

    `architecture="linear"` (default) projects each field's L2-normalised bags through one
    shared linear map, initialised as a random (Johnson-Lindenstrauss) projection, and sums the
    fields with learned weights: before training its cosine is close to TF-IDF cosine over the
    record, the non-learned baseline, and training moves it from there. `"mlp"` sends each
    field's bag through its own ReLU layer; with a few thousand labelled pairs it overfits and
    lost to TF-IDF on Abt-Buy (validation average precision 0.42 against 0.6+).

    In the linear and hybrid towers each numeric field also adds `NumericKernel` blocks, one per
    `numeric_scales` entry, each times a learned weight: their inner product is a Gaussian kernel
    of the difference of the signed logs (prices 10 and 11 agree, 10 and 20 do not), so the
    record's cosine can count price agreement. On Amazon-Google the price ratio alone separates
    the labelled pairs with ROC-AUC 0.82. `numeric_scales=()` leaves them out.

    `oov_buckets`: the n-grams missing from the training records' vocabulary (a new catalogue's
    model numbers) are hashed into that many features at the highest idf (`bags.NgramCounts`);
    0 gives them idf 0, as the towers saved before did.

    `"hybrid"`: the linear tower's unit embedding beside the pretrained sentence encoder's
    (`pretrained`, as in `TextTowerConfig`) of the text fields written as `"field: value; ..."`,
    each times a learned positive weight (starting at 1 and `encoder_weight`), concatenated and
    normalised: the cosine is the weighted mean of the two cosines, with weights `w**2`. Its
    width is `embedding_dim` plus the encoder's.
    """

    text_fields: tuple[str, ...] = ()
    numeric_fields: tuple[str, ...] = ()
    architecture: Literal["linear", "mlp", "hybrid"] = "linear"
    embedding_dim: int = 512
    hidden: int = 256
    ngram_tokens: int = 50_000
    word_tokens: int = 20_000
    word_weight: float = 0.5
    dropout: float = 0.0
    normalize: bool = True
    pretrained: str = "all-MiniLM-L6-v2"
    sequence_length: int = 64
    freeze_layers: int = 0
    encoder_weight: float = 1.0
    numeric_scales: tuple[float, ...] = (0.1, 0.3, 1.0)
    oov_buckets: int = OOV_BUCKETS


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ConfigError(f"Expected {name} > 0. Received: {name}={value}")


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"Expected 0 <= dropout < 1. Received: dropout={dropout}")


def _project(x: Any, embedding_dim: int, dropout: float, normalize: bool) -> Any:
    if dropout:
        x = layers.Dropout(dropout)(x)
    x = layers.Dense(embedding_dim, name="embedding")(x)
    if normalize:
        x = layers.UnitNormalization(name="l2_normalize")(x)
    return x


def build_image_tower(
    config: ImageTowerConfig = ImageTowerConfig(),
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> keras.Model:
    """Build an image tower: `(n, h, w, c) float32` in [0, 1] -> `(n, embedding_dim)`.

    `images` and `labels` (the training items) start the `"linear"` architecture; the others
    ignore them.

    Example:
    >>> tower = build_image_tower(ImageTowerConfig(image_size=(28, 28), embedding_dim=64))
    >>> tower(np.zeros((2, 28, 28, 1), "float32")).shape
    (2, 64)
    """
    _check_positive(blocks=config.blocks, filters=config.filters, embedding_dim=config.embedding_dim)
    _check_dropout(config.dropout)
    if config.architecture not in IMAGE_ARCHITECTURES:
        raise ConfigError(
            f"Expected architecture in {list(IMAGE_ARCHITECTURES)}. "
            f"Received: architecture={config.architecture!r}"
        )
    if config.weights is not None and config.architecture not in BACKBONES:
        raise ConfigError(
            f"Expected weights only with a backbone architecture {sorted(BACKBONES)}. "
            f"Received: architecture={config.architecture!r}, weights={config.weights!r}"
        )
    if config.architecture == "koch" and min(config.image_size) < KOCH_MIN_SIZE:
        raise ConfigError(
            f"Expected image_size >= ({KOCH_MIN_SIZE}, {KOCH_MIN_SIZE}) for the koch architecture "
            f"(105x105 in the paper). Received: image_size={tuple(config.image_size)}"
        )
    inputs = keras.Input((*config.image_size, config.channels), name="image")
    x = layers.Rescaling(-1.0, offset=1.0, name="invert")(inputs) if config.invert else inputs
    if config.architecture in ("koch", "pixels"):
        # Koch et al.'s 4096-unit sigmoid layer is itself the embedding: no extra projection;
        # the pixel baseline has no learned layer at all.
        koch = config.architecture == "koch"
        outputs = _koch_body(x, config.embedding_dim) if koch else layers.Flatten()(x)
        if config.normalize:
            outputs = layers.UnitNormalization(name="l2_normalize")(outputs)
    elif config.architecture in BACKBONES:
        x = backbone_body(x, config.architecture, config.image_size, config.channels, config.weights)
        outputs = _project(x, config.embedding_dim, config.dropout, config.normalize)
    elif config.architecture == "linear":
        pixels = None if images is None else (1.0 - images if config.invert else images)
        outputs = _linear_image_body(x, config, pixels, labels)
    else:
        x = _light_body(x, config)
        outputs = _project(x, config.embedding_dim, config.dropout, config.normalize)
    return keras.Model(inputs, outputs, name="image_tower")


def _linear_image_body(
    x: Any, config: ImageTowerConfig, images: np.ndarray | None, labels: np.ndarray | None
) -> Any:
    x = layers.Flatten()(x)
    if config.dropout:
        x = layers.Dropout(config.dropout)(x)
    dense = layers.Dense(
        config.embedding_dim, kernel_initializer=keras.initializers.Orthogonal(seed=0), name="embedding"
    )
    outputs = dense(x)
    if images is not None and labels is not None:
        dense.set_weights(list(within_class_whitening(images, labels, config.embedding_dim)))
    if config.normalize:
        outputs = layers.UnitNormalization(name="l2_normalize")(outputs)
    return outputs


def within_class_whitening(
    images: np.ndarray, labels: np.ndarray, dim: int, shrinkage: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`(kernel (h*w*c, dim), bias (dim,))` of `x -> (x - mean) P W`: P projects on the `dim`
    leading principal components of the images, W whitens the within-class scatter there, after
    adding `shrinkage` (default `WHITENING_SHRINKAGE`) times its mean variance to every direction.

    Raises:
        DataError: fewer images than `dim + 1`, or fewer than 2 labelled classes.
    """
    keep = np.asarray(labels) >= 0
    x = np.asarray(images, dtype=np.float64)[keep].reshape(int(keep.sum()), -1)
    y = np.asarray(labels)[keep]
    classes = np.unique(y)
    if len(classes) < 2 or len(x) <= dim or x.shape[1] < dim:
        raise DataError(
            f"Expected more labelled images than embedding_dim={dim} (and 2+ classes, {dim}+ pixels) "
            f"for the linear image tower. Received: {len(x)} images, {len(classes)} classes, "
            f"{x.shape[1]} pixels"
        )
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    z = (x - mean) @ vt[:dim].T
    within = np.concatenate([z[y == c] - z[y == c].mean(axis=0) for c in classes])
    scatter = within.T @ within / len(within)
    shrinkage = WHITENING_SHRINKAGE if shrinkage is None else shrinkage
    scatter += shrinkage * np.trace(scatter) / dim * np.eye(dim)
    values, vectors = np.linalg.eigh(scatter)
    kernel = vt[:dim].T @ (vectors / np.sqrt(values))
    return kernel.astype(np.float32), (-mean @ kernel).astype(np.float32)


def _light_body(x: Any, config: ImageTowerConfig) -> Any:
    size = min(config.image_size)
    for block in range(config.blocks):
        x = layers.Conv2D(config.filters, 3, padding="same", use_bias=False, name=f"conv{block}")(x)
        x = layers.BatchNormalization(name=f"bn{block}")(x)
        x = layers.ReLU()(x)
        if size >= 2:
            x = layers.MaxPooling2D(2)(x)
            size //= 2
    return layers.Flatten()(x)


def _koch_body(x: Any, embedding_dim: int) -> Any:
    reg = keras.regularizers.L2(2e-4)
    for filters, kernel in ((64, 10), (128, 7), (128, 4)):
        x = layers.Conv2D(filters, kernel, activation="relu", kernel_regularizer=reg)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(256, 4, activation="relu", kernel_regularizer=reg)(x)
    x = layers.Flatten()(x)
    return layers.Dense(embedding_dim, activation="sigmoid", kernel_regularizer=reg, name="embedding")(x)


def _as_text_array(values: Any) -> np.ndarray:
    """The texts a vocabulary is adapted from, normalised as they will be encoded."""
    texts = ("" if v is None else normalize_text(str(v)) for v in np.asarray(values).ravel())
    return np.asarray(list(texts), dtype=object)


def _char_ngram_bag(name: str, texts: np.ndarray, max_tokens: int) -> layers.TextVectorization:
    vectorizer = layers.TextVectorization(
        max_tokens=max_tokens,
        standardize="lower",
        split="character",
        ngrams=(2, 3, 4),
        output_mode="tf_idf",
        name=f"{name}_char_ngrams",
    )
    vectorizer.adapt(texts, batch_size=1024)
    return vectorizer


def _word_branch(inputs: Any, texts: np.ndarray, config: TextTowerConfig) -> Any:
    vectorizer = layers.TextVectorization(
        max_tokens=config.max_tokens,
        output_sequence_length=config.sequence_length,
        name="words",
    )
    vectorizer.adapt(texts, batch_size=1024)
    x = vectorizer(inputs)
    x = layers.Embedding(vectorizer.vocabulary_size(), config.token_dim, name="word_embedding")(x)
    if config.pooling == "conv":
        x = layers.Conv1D(config.hidden, 3, padding="same", activation="relu")(x)
        return layers.GlobalMaxPooling1D()(x)
    if config.pooling == "gru":
        return layers.Bidirectional(layers.GRU(config.hidden // 2))(x)
    return layers.GlobalAveragePooling1D()(x)


def build_text_tower(
    texts: Sequence[str] | np.ndarray, config: TextTowerConfig = TextTowerConfig()
) -> keras.Model:
    """Build a text tower whose vocabularies are adapted from `texts` (the training texts).

    The tower takes `{"text": (n,) string}` and returns `(n, embedding_dim)`.
    """
    if config.architecture not in ("sequence", "linear", "pretrained"):
        raise ConfigError(
            "Expected architecture 'sequence', 'linear' or 'pretrained'. "
            f"Received: architecture={config.architecture!r}"
        )
    if config.pooling not in ("conv", "gru", "mean"):
        raise ConfigError(f"Expected pooling 'conv', 'gru' or 'mean'. Received: pooling={config.pooling!r}")
    _check_positive(embedding_dim=config.embedding_dim, hidden=config.hidden)
    _check_dropout(config.dropout)
    texts = _as_text_array(texts)
    if len(texts) == 0:
        raise DataError("Expected training texts to adapt the vocabulary. Received: 0 texts")
    if config.architecture == "linear":
        linear = RecordTowerConfig(
            text_fields=(TEXT_INPUT,),
            embedding_dim=config.embedding_dim,
            ngram_tokens=config.ngram_tokens,
            word_tokens=config.max_tokens,
            word_weight=config.word_weight,
            dropout=config.dropout,
            normalize=config.normalize,
        )
        return _linear_record_tower({TEXT_INPUT: texts}, linear, model_name="text_tower")
    if config.architecture == "pretrained":
        return _pretrained_text_tower(config)
    inputs = keras.Input((), dtype="string", name=TEXT_INPUT)
    branches = [_word_branch(inputs, texts, config)]
    if config.char_ngrams:
        bag = _char_ngram_bag(TEXT_INPUT, texts, config.ngram_tokens)(inputs)
        branches.append(layers.Dense(config.hidden, activation="relu", name="char_dense")(bag))
    x = layers.Concatenate()(branches) if len(branches) > 1 else branches[0]
    x = layers.Dense(config.hidden, activation="relu")(x)
    outputs = _project(x, config.embedding_dim, config.dropout, config.normalize)
    return keras.Model({TEXT_INPUT: inputs}, outputs, name="text_tower")


def _pretrained_text_tower(config: TextTowerConfig) -> keras.Model:
    from simsearch.models.pretrained import load_pretrained, sentence_embedding

    inputs = keras.Input((), dtype="string", name=TEXT_INPUT)
    x = sentence_embedding(
        inputs,
        load_pretrained(config.pretrained),
        max_length=config.sequence_length,
        freeze_layers=config.freeze_layers,
    )
    if config.normalize:
        x = layers.UnitNormalization(name="l2_normalize")(x)
    return keras.Model({TEXT_INPUT: inputs}, x, name="text_tower")


def build_record_tower(
    columns: Mapping[str, Sequence[Any] | np.ndarray], config: RecordTowerConfig
) -> keras.Model:
    """Build a record tower over named fields, adapting text vocabularies from `columns`.

    The tower takes `{field: (n,) string or float32}` and returns `(n, embedding_dim)`.
    """
    if not config.text_fields and not config.numeric_fields:
        raise ConfigError("Expected at least one text or numeric field. Received: none")
    missing = [f for f in (*config.text_fields, *config.numeric_fields) if f not in columns]
    if missing:
        raise DataError(f"Expected fields {missing} in the training data. Received: {sorted(columns)}")
    _check_positive(embedding_dim=config.embedding_dim, hidden=config.hidden)
    _check_dropout(config.dropout)
    if config.architecture not in ("linear", "mlp", "hybrid"):
        raise ConfigError(
            "Expected architecture 'linear', 'mlp' or 'hybrid'. "
            f"Received: architecture={config.architecture!r}"
        )
    if config.architecture == "linear":
        return _linear_record_tower(columns, config)
    if config.architecture == "hybrid":
        return _hybrid_record_tower(columns, config)
    inputs: dict[str, Any] = {}
    parts = []
    for name in config.text_fields:
        texts = _as_text_array(columns[name])
        inputs[name] = keras.Input((), dtype="string", name=name)
        bag = _char_ngram_bag(name, texts, config.ngram_tokens)(inputs[name])
        parts.append(layers.Dense(config.hidden, activation="relu", name=f"{name}_dense")(bag))
    for name in config.numeric_fields:
        inputs[name] = keras.Input((), dtype="float32", name=name)
        parts.append(NumericEncoding(name=f"{name}_numeric")(inputs[name]))
    x = layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    x = layers.Dense(config.hidden, activation="relu")(x)
    outputs = _project(x, config.embedding_dim, config.dropout, config.normalize)
    return keras.Model(inputs, outputs, name="record_tower")


def _random_projection(name: str, embedding_dim: int, seed: int) -> layers.Dense:
    """A fixed random projection; its tiny random bias gives an empty text (all-zero bag) one
    fixed unit embedding instead of a zero vector, which cosine search cannot normalise."""
    init = keras.initializers.RandomNormal(stddev=embedding_dim**-0.5, seed=seed)
    bias = keras.initializers.RandomNormal(stddev=1e-3 * embedding_dim**-0.5, seed=seed + 100)
    return layers.Dense(
        embedding_dim, kernel_initializer=init, bias_initializer=bias, trainable=False, name=name
    )


def _linear_record_tower(
    columns: Mapping[str, Any], config: RecordTowerConfig, model_name: str = "record_tower"
) -> keras.Model:
    inputs, x = _linear_record_body(columns, config)
    if config.normalize:
        x = layers.UnitNormalization(name="l2_normalize")(x)
    return keras.Model(inputs, x, name=model_name)


def _linear_record_body(columns: Mapping[str, Any], config: RecordTowerConfig) -> tuple[dict[str, Any], Any]:
    """The record's TF-IDF bags (`bags.ngram_bag`: character n-grams, and words times
    `word_weight`), each L2-normalised and sent through a fixed random projection, plus the
    numeric fields' encodings; their sum, not yet normalised."""
    records = joined_texts([_as_text_array(columns[field]) for field in config.text_fields])
    inputs: dict[str, Any] = {name: keras.Input((), dtype="string", name=name) for name in config.text_fields}
    parts = []
    units: list[tuple[Literal["chars", "words"], int, float, int]] = [("chars", config.ngram_tokens, 1.0, 1)]
    if config.word_weight:
        units.append(("words", config.word_tokens, config.word_weight, 2))
    for unit, max_tokens, weight, seed in units if config.text_fields else []:
        vectorizer, tfidf = ngram_bag("record", records, max_tokens, unit, config.oov_buckets)
        singular = unit[:-1]
        counts = [vectorizer(inputs[name]) for name in config.text_fields]
        if len(counts) > 1:  # each field's counts times a learned weight, then one bag
            counts = [
                PositiveScale(1.0, name=f"{name}_{singular}_field_weight")(c)
                for name, c in zip(config.text_fields, counts, strict=True)
            ]
            bag = layers.Add(name=f"{singular}_counts")(counts)
        else:
            bag = counts[0]
        bag = FeatureWeights(name=f"{singular}_weights")(tfidf(bag))
        bag = layers.UnitNormalization(name=f"{singular}_l2")(bag)
        projected = _random_projection(f"{singular}_projection", config.embedding_dim, seed=seed)(bag)
        parts.append(Scale(weight, name=f"{singular}_weight")(projected))
    for i, name in enumerate(config.numeric_fields):
        inputs[name] = keras.Input((), dtype="float32", name=name)
        encoded = NumericEncoding(name=f"{name}_numeric")(inputs[name])
        parts.append(
            layers.Dense(config.embedding_dim, kernel_initializer="zeros", name=f"{name}_dense")(encoded)
        )
        for j, sigma in enumerate(config.numeric_scales):
            seed = 1000 + 10 * i + j
            kernel = NumericKernel(sigma=sigma, seed=seed, name=f"{name}_kernel_{j}")(inputs[name])
            projection = _random_projection(f"{name}_kernel_projection_{j}", config.embedding_dim, seed)
            projected = projection(kernel)
            parts.append(Scale(KERNEL_WEIGHT, name=f"{name}_kernel_weight_{j}")(projected))
    x = layers.Add()(parts) if len(parts) > 1 else parts[0]
    if config.dropout:
        x = layers.Dropout(config.dropout)(x)
    return inputs, x


def _hybrid_record_tower(columns: Mapping[str, Any], config: RecordTowerConfig) -> keras.Model:
    from simsearch.models.pretrained import load_pretrained, sentence_embedding

    if not config.text_fields:
        raise ConfigError("Expected text fields for the hybrid record tower's encoder. Received: none")
    _check_positive(encoder_weight=config.encoder_weight)
    inputs, ngrams = _linear_record_body(columns, config)
    encoded = sentence_embedding(
        [inputs[name] for name in config.text_fields],
        load_pretrained(config.pretrained),
        max_length=config.sequence_length,
        freeze_layers=config.freeze_layers,
        fields=list(config.text_fields),
    )
    parts = [
        PositiveScale(1.0, name="ngram_weight")(layers.UnitNormalization(name="ngram_l2")(ngrams)),
        PositiveScale(config.encoder_weight, name="encoder_weight")(
            layers.UnitNormalization(name="encoder_l2")(encoded)
        ),
    ]
    x = layers.Concatenate(name="hybrid")(parts)
    if config.normalize:
        x = layers.UnitNormalization(name="l2_normalize")(x)
    return keras.Model(inputs, x, name="record_tower")
