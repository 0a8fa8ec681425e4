"""TF-IDF bags of n-grams over a record's text fields, as Keras layers: the linear towers' base.

One bag covers the whole record, as TF-IDF over the record's fields joined into one text does
(scikit-learn's `TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)` over `" ".join(fields)`,
the non-learned baseline the towers are measured against):

- n-grams: character 2-4-grams inside each word padded with spaces (`"char_wb"`), so a record's
  n-gram counts are the sum of its fields' counts; or words.
- term frequency: `log(1 + count)`, sublinear, so a repeated n-gram does not outweigh the rest;
- inverse document frequency: `log(1 + n / (1 + df))` over the training records (Keras's
  `tf_idf` formula), fixed; n-grams missing from the vocabulary (a new catalogue's model
  numbers) are hashed into `OOV_BUCKETS` features at the highest idf, `log(1 + n)`, as a
  TF-IDF fitted on the new records too would weigh such rare n-grams (`NgramCounts`).

Each field's counts are scaled by a learned positive weight (starting at 1) before they are
summed, so training can learn that a description matters less than a title without leaving the
baseline at its start. On the DeepMatcher test pairs, untrained, this bag's cosine has average
precision 0.607 / 0.779 / 0.781 on Amazon-Google / Abt-Buy / Walmart-Amazon (without the
learned weights), where one L2-normalised bag per field summed with equal weights had 0.38 /
0.54 / 0.42 and scikit-learn's char_wb TF-IDF over the joined record 0.598 / 0.744 / 0.759.
Those figures are from before the hashed buckets; `benchmarks/start_vs_tfidf.py` measures the
start against bench_linkage's baseline on its slices (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import keras
import numpy as np
from keras import layers, ops

from simsearch.errors import ConfigError

__all__ = ["NgramCounts", "PositiveScale", "SublinearTfIdf", "char_wb_ngrams", "joined_texts", "ngram_bag"]

NGRAMS = (2, 3, 4)
_ADAPT_BATCH = 512
# Buckets the n-grams missing from the training vocabulary are hashed into, each at the highest
# idf (an n-gram no training record has is as rare as one can be). With all of them in one
# feature at idf 0 instead, a new catalogue's model numbers weighed nothing: on bench_linkage's
# quick slices the start's average precision was 0.76-0.92 against the baseline's 0.85-0.99.
OOV_BUCKETS = 16_384
_PUNCTUATION = r"[!\"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~']"  # Keras's lower_and_strip_punctuation


@keras.saving.register_keras_serializable(package="simsearch")
def char_wb_ngrams(inputs: Any) -> Any:
    """Split strings into the character 2-4-grams of their words, each padded with one space
    (scikit-learn's `analyzer="char_wb"`): `"dvd-r"` -> `" d", "dv", ..., "-r ", " dvd", ...`.

    A `TextVectorization` split function: it takes a batch of strings and returns a ragged batch
    of n-grams. n-grams never cross a word boundary.
    """
    import tensorflow as tf  # the split runs inside TextVectorization, a TensorFlow layer

    words = tf.strings.split(inputs)
    chars = tf.strings.unicode_split(" " + words + " ", "UTF-8")
    return tf.strings.ngrams(chars, NGRAMS, separator="").merge_dims(-2, -1)


@keras.saving.register_keras_serializable(package="simsearch")
class SublinearTfIdf(layers.Layer):
    """`log(1 + count) * idf` for a bag of counts, with a fixed (non-trainable) `idf` per feature.

    `idf` is a weight of the layer, saved with the model; `ngram_bag` sets it from the training
    records. Feature 0, a `TextVectorization`'s out-of-vocabulary count, has idf 0: every unknown
    n-gram lands there, and counted it would make any two new texts look alike.
    """

    def build(self, input_shape: Any) -> None:
        self.idf = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False, name="idf")

    def call(self, inputs: Any) -> Any:
        counts = ops.cast(inputs, self.compute_dtype)  # a count vectorizer's output is int64
        return ops.log1p(ops.maximum(counts, 0.0)) * self.idf

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


@keras.saving.register_keras_serializable(package="simsearch")
class PositiveScale(layers.Layer):
    """Multiply by one learned positive scalar, `exp(theta)`, initialised to `value` (> 0)."""

    def __init__(self, value: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if value <= 0:
            raise ConfigError(f"Expected value > 0. Received: value={value}")
        self.value = float(value)

    def build(self, input_shape: Any) -> None:
        self.log_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(np.log(self.value)), name="log_scale"
        )

    def call(self, inputs: Any) -> Any:
        return ops.cast(inputs, self.compute_dtype) * ops.exp(self.log_scale)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="simsearch")
class NgramCounts(layers.Layer):
    """Count a text's n-grams (`unit="chars"`: `char_wb_ngrams` of the lower-cased text;
    `"words"`: lower-cased words without punctuation): `(n, oov_buckets + len(vocabulary))`.

    The first `oov_buckets` features count the n-grams missing from `vocabulary`, each hashed
    into one of them, so two texts sharing a new n-gram (a model number the training records
    never had) share a feature; the rest count the vocabulary's n-grams in order.
    """

    def __init__(
        self,
        unit: Literal["chars", "words"] = "chars",
        vocabulary: Sequence[str] = (),
        oov_buckets: int = OOV_BUCKETS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if unit not in ("chars", "words"):
            raise ConfigError(f"Expected unit 'chars' or 'words'. Received: unit={unit!r}")
        if oov_buckets < 1:
            raise ConfigError(f"Expected oov_buckets >= 1. Received: oov_buckets={oov_buckets}")
        self.unit, self.vocabulary, self.oov_buckets = unit, list(vocabulary), int(oov_buckets)
        self.lookup = layers.StringLookup(
            vocabulary=self.vocabulary or None,
            num_oov_indices=self.oov_buckets,
            mask_token=None,
            output_mode="count",
            name=f"{self.name}_lookup",
        )

    def get_vocabulary(self) -> list[str]:
        """The known n-grams, in the order of their features (after the `oov_buckets`)."""
        return list(self.vocabulary)

    def build(self, input_shape: Any) -> None:
        self.built = True  # the lookup has its vocabulary from the start; nothing else to build

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf  # the n-grams are TensorFlow strings, as in TextVectorization

        texts = tf.strings.lower(tf.convert_to_tensor(inputs))
        if self.unit == "chars":
            tokens = char_wb_ngrams(texts)
        else:
            tokens = tf.strings.split(tf.strings.regex_replace(texts, _PUNCTUATION, ""))
        return self.lookup(tokens)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        return (input_shape[0], self.oov_buckets + len(self.vocabulary))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "unit": self.unit,
            "vocabulary": self.vocabulary,
            "oov_buckets": self.oov_buckets,
        }


def joined_texts(fields: Sequence[np.ndarray]) -> np.ndarray:
    """Each record's text fields joined by spaces: the one text its bag counts."""
    if not fields:
        return np.array([""], dtype=object)
    return np.asarray([" ".join(parts) for parts in zip(*fields, strict=True)], dtype=object)


def _document_frequency(vectorizer: layers.Layer, texts: np.ndarray, width: int) -> np.ndarray:
    df = np.zeros(width, np.float64)
    for start in range(0, len(texts), _ADAPT_BATCH):
        counts = keras.ops.convert_to_numpy(vectorizer(texts[start : start + _ADAPT_BATCH]))
        df += (counts > 0).sum(axis=0)
    return df


def ngram_bag(
    name: str,
    records: np.ndarray,
    max_tokens: int,
    unit: Literal["chars", "words"],
    oov_buckets: int = OOV_BUCKETS,
) -> tuple[layers.Layer, SublinearTfIdf]:
    """A count vectorizer and its TF-IDF layer, both adapted to `records` (one text per record).

    `unit="chars"`: character 2-4-grams of lower-cased words (`char_wb_ngrams`); `"words"`:
    lower-cased words without punctuation. Apply the vectorizer to each field, scale and add the
    counts, then the TF-IDF layer.

    With `oov_buckets` (default) the vectorizer is `NgramCounts`: n-grams missing from the
    vocabulary are hashed into that many features at the highest idf, `log(1 + n)`, as
    scikit-learn's TF-IDF fitted on the new records too would weigh them. `oov_buckets=0`: a
    `TextVectorization` whose one out-of-vocabulary feature has idf 0 (unknown n-grams weigh
    nothing; the towers saved before).
    """
    if unit not in ("chars", "words"):
        raise ConfigError(f"Expected unit 'chars' or 'words'. Received: unit={unit!r}")
    vectorizer = layers.TextVectorization(
        max_tokens=max_tokens,
        standardize="lower" if unit == "chars" else "lower_and_strip_punctuation",
        split=char_wb_ngrams if unit == "chars" else "whitespace",
        output_mode="count",
        name=f"{name}_{unit}",
    )
    vectorizer.adapt(records, batch_size=1024)
    if oov_buckets:
        vocabulary = vectorizer.get_vocabulary()[1:]  # without its out-of-vocabulary token
        counter: layers.Layer = NgramCounts(unit, vocabulary, oov_buckets, name=f"{name}_{unit}")
        width = oov_buckets + len(vocabulary)
    else:
        counter, width = vectorizer, vectorizer.vocabulary_size()
    df = _document_frequency(counter, records, width)
    idf = np.log1p(len(records) / (1.0 + df)).astype(np.float32)
    if not oov_buckets:
        idf[0] = 0.0  # the out-of-vocabulary count
    tfidf = SublinearTfIdf(name=f"{name}_{unit}_tfidf")
    tfidf.build((None, len(idf)))
    tfidf.idf.assign(idf)
    return counter, tfidf
