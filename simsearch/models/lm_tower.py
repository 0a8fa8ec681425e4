"""The language-model record tower: a record serialised as Ditto writes it, read by a pretrained
sentence encoder (R-SupCon's siamese design, Peeters & Bizer 2022).

- `RecordSerializer`: the record's field columns -> one `COL name VAL value ...` text
  (`simsearch.data.serialize`: numbers and product codes normalised, long values summarised to
  their highest-TF-IDF words); the word IDFs, fitted on the training records, are saved as an
  asset of the `.keras` file;
- `build_lm_record_tower`: serialiser -> subword tokenizer -> BERT -> mean pooling -> L2 norm.

Trained with `loss="supcon"` on the clusters of matching records (`fitting.fit_pairs`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
from keras import layers

from simsearch.data.serialize import fit_serialization, serialize_records
from simsearch.errors import ConfigError, DataError

__all__ = ["LMRecordTowerConfig", "RecordSerializer", "build_lm_record_tower", "column_texts"]

ASSET = "idf.json"


@dataclass(frozen=True)
class LMRecordTowerConfig:
    """Settings of the language-model record tower.

    `architecture="encoder"` (default): every field, text and numeric, serialised in the order
    text fields then numeric fields as `COL field VAL value`, values cut to `max_words` words in
    all (None: half of `sequence_length`, as product text runs about two subword tokens a word)
    by keeping their highest-TF-IDF words, then the sentence encoder `pretrained` (a known name
    or a model directory) as sentence-transformers runs it, its first `freeze_layers` blocks
    frozen. `"linear"`: the record kind's TF-IDF tower (`RecordTowerConfig`), the baseline.
    """

    text_fields: tuple[str, ...] = ()
    numeric_fields: tuple[str, ...] = ()
    architecture: Literal["encoder", "linear"] = "encoder"
    pretrained: str = "all-MiniLM-L6-v2"
    sequence_length: int = 64
    max_words: int | None = None
    freeze_layers: int = 0
    normalize: bool = True


def column_texts(values: Any) -> list[str]:
    """One column of a record as strings: bytes decoded, numbers as `%g` (NaN: empty)."""
    array = np.asarray(values).reshape(-1)
    if array.dtype.kind in "fiu":
        return ["" if math.isnan(v) else f"{float(v):g}" for v in array.astype(np.float64)]
    return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in array]


@keras.saving.register_keras_serializable(package="simsearch")
class RecordSerializer(layers.Layer):
    """Field columns (`(n,)` strings or numbers, in `fields` order) -> `(n,)` serialised texts.

    Args:
        fields: the field names, in the order the columns come.
        max_words: the value words kept per record (`serialize.word_budgets`).
        idf: word -> IDF (`serialize.fit_idf`); None leaves the layer to be loaded from a
            `.keras` file, which carries it as an asset.
    """

    def __init__(
        self, fields: Sequence[str], max_words: int, idf: Mapping[str, float] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if max_words < 1:
            raise ConfigError(f"Expected max_words >= 1. Received: max_words={max_words}")
        self.fields = [str(f) for f in fields]
        self.max_words = int(max_words)
        self.idf: dict[str, float] = dict(idf or {})
        self.supports_jit = False

    def serialize(self, columns: Sequence[Any]) -> list[str]:
        """The texts of `columns` (one array per field) in NumPy."""
        return serialize_records(self.fields, [column_texts(c) for c in columns], self.idf, self.max_words)

    def _serialize(self, *columns: Any) -> Any:
        return np.asarray(self.serialize([c.numpy() for c in columns]), dtype=object)

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf

        columns = [tf.reshape(tf.convert_to_tensor(c), (-1,)) for c in inputs]
        texts = tf.py_function(self._serialize, columns, Tout=tf.string)
        texts.set_shape((None,))
        return texts

    def compute_output_spec(self, inputs: Any) -> Any:
        return keras.KerasTensor((None,), "string")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fields": self.fields, "max_words": self.max_words}

    def save_assets(self, dir_path: str) -> None:
        (Path(dir_path) / ASSET).write_text(json.dumps(self.idf, sort_keys=True), encoding="utf-8")

    def load_assets(self, dir_path: str) -> None:
        self.idf = json.loads((Path(dir_path) / ASSET).read_text(encoding="utf-8"))


def build_lm_record_tower(columns: Mapping[str, Any], config: LMRecordTowerConfig) -> keras.Model:
    """Build the encoder tower over `config`'s fields; the summariser's IDFs are fitted on
    `columns` (the training records).

    The tower takes `{field: (n,) string or float32}` and returns `(n, hidden_size)`.
    """
    from simsearch.models.pretrained import load_pretrained, sentence_embedding

    fields = [*config.text_fields, *config.numeric_fields]
    if not fields:
        raise ConfigError("Expected at least one text or numeric field. Received: none")
    missing = [f for f in fields if f not in columns]
    if missing:
        raise DataError(f"Expected fields {missing} in the training data. Received: {sorted(columns)}")
    max_words = config.max_words or max(1, config.sequence_length // 2)
    fitted = fit_serialization([column_texts(columns[f]) for f in fields], max_words)
    serializer = RecordSerializer(fields, max_words, fitted["idf"], name="serializer")
    inputs = {
        name: keras.Input((), dtype="string" if name in config.text_fields else "float32", name=name)
        for name in fields
    }
    texts = serializer([inputs[name] for name in fields])
    x = sentence_embedding(
        texts,
        load_pretrained(config.pretrained),
        max_length=config.sequence_length,
        freeze_layers=config.freeze_layers,
    )
    if config.normalize:
        x = layers.UnitNormalization(name="l2_normalize")(x)
    return keras.Model(inputs, x, name="record_tower")
