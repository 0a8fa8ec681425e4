"""`SubwordTokenizer`: raw strings -> token ids and padding mask, inside the tower.

The towers take raw strings (`{"text": (n,) string}` or one string column per record field), so
the pretrained encoder's tokenizer is a layer of the model: `simsearch build-index`, `query` and
`serve` feed it text as they feed every other text tower. It runs a Hugging Face `tokenizers`
tokenizer (the Rust WordPiece that sentence-transformers itself uses, so the ids are the ones the
weights were trained on) through `tf.py_function`: strings exist as tensors only on the
TensorFlow backend, as for Keras's own `TextVectorization`. The tokenizer's `tokenizer.json` is
saved as an asset of the `.keras` file, like an adapted vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
from keras import layers

from simsearch.data.serialize import serialize_records
from simsearch.errors import ConfigError, DataError

__all__ = ["SubwordTokenizer", "item_texts", "parse_tokenizer", "record_texts"]

ASSET = "tokenizer.json"


def record_texts(fields: Sequence[str], columns: Sequence[Sequence[str]]) -> list[str]:
    """One `"field: value; field: value"` text per record, empty fields left out.

    Example:
    >>> record_texts(["title", "brand"], [["sony tv", "ipad"], ["sony", ""]])
    ['title: sony tv; brand: sony', 'title: ipad']
    """
    return [
        "; ".join(f"{name}: {value}" for name, value in zip(fields, row, strict=True) if value.strip())
        for row in zip(*columns, strict=True)
    ]


def parse_tokenizer(tokenizer_json: str, user: str) -> Any:
    """A Hugging Face `tokenizers.Tokenizer` from a `tokenizer.json`'s content; `user` names
    what needs it in the error when the package is missing."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ConfigError(
            f"Expected the `tokenizers` package for {user}. Received: it is not installed "
            "(pip install 'simsearch[pretrained]')"
        ) from exc
    try:
        return Tokenizer.from_str(tokenizer_json)
    except Exception as exc:  # the Rust library raises its own Exception type
        raise ConfigError(f"Expected a Hugging Face tokenizer.json. Received: {exc}") from exc


def _decode(values: Any) -> list[str]:
    return [v.decode("utf-8", errors="replace") for v in np.asarray(values).reshape(-1)]


@keras.saving.register_keras_serializable(package="simsearch")
class SubwordTokenizer(layers.Layer):
    """Tokenize strings with a Hugging Face tokenizer: `(n,) string` -> `(token_ids, padding_mask)`,
    both `(n, length) int32`, padded to the longest text of the batch and cut at `max_length`
    tokens ([CLS] and [SEP] included).

    Args:
        max_length: most tokens per text.
        fields: None: the input is one string column. Else the input is one string column per
            field, joined per row as `"field: value; ..."` (`record_texts`).
        tokenizer_json: the content of a `tokenizer.json`; None leaves the layer to be loaded
            from a `.keras` file, which carries it as an asset.
    """

    def __init__(
        self,
        max_length: int = 128,
        fields: Sequence[str] | None = None,
        tokenizer_json: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if max_length < 2:
            raise ConfigError(
                f"Expected max_length >= 2 ([CLS] and [SEP]). Received: max_length={max_length}"
            )
        self.max_length = int(max_length)
        self.fields = None if fields is None else [str(f) for f in fields]
        self.supports_jit = False
        self._json: str | None = None
        self._tokenizer: Any = None
        if tokenizer_json is not None:
            self.set_tokenizer(tokenizer_json)

    def set_tokenizer(self, tokenizer_json: str) -> None:
        """Use the tokenizer serialised in `tokenizer_json` (a `tokenizer.json`'s content)."""
        tokenizer = parse_tokenizer(tokenizer_json, "a pretrained text encoder")
        padding = tokenizer.padding or {}
        pad_id = int(padding.get("pad_id", 0))
        pad_token = padding.get("pad_token") or tokenizer.id_to_token(pad_id) or "[PAD]"
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)  # to the batch's longest
        self._json, self._tokenizer = tokenizer_json, tokenizer

    def tokenize(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """Return `(token_ids, padding_mask)`, each `(n, length) int32`, for `texts`."""
        if self._tokenizer is None:
            raise ConfigError(
                f"Expected a tokenizer in layer {self.name!r}. Received: none was set or loaded"
            )
        if len(texts) == 0:
            empty = np.zeros((0, 2), dtype=np.int32)
            return empty, empty
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int32)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int32)
        return ids, mask

    def _tokenize_columns(self, *columns: Any) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        decoded = [_decode(column) for column in columns]
        texts = decoded[0] if self.fields is None else record_texts(self.fields, decoded)
        return self.tokenize(texts)

    def _columns(self, inputs: Any) -> list[Any]:
        if self.fields is None:
            return [inputs]
        if isinstance(inputs, dict):
            return [inputs[name] for name in self.fields]
        columns = list(inputs)
        if len(columns) != len(self.fields):
            raise ConfigError(
                f"Expected {len(self.fields)} string columns ({self.fields}). Received: {len(columns)}"
            )
        return columns

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf

        columns = [tf.reshape(tf.convert_to_tensor(c), (-1,)) for c in self._columns(inputs)]
        ids, mask = tf.py_function(self._tokenize_columns, columns, Tout=(tf.int32, tf.int32))
        ids.set_shape((None, None))
        mask.set_shape((None, None))
        return ids, mask

    def compute_output_spec(self, inputs: Any) -> Any:
        return (keras.KerasTensor((None, None), "int32"), keras.KerasTensor((None, None), "int32"))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_length": self.max_length, "fields": self.fields}

    def save_assets(self, dir_path: str) -> None:
        if self._json is not None:
            (Path(dir_path) / ASSET).write_text(self._json, encoding="utf-8")

    def load_assets(self, dir_path: str) -> None:
        self.set_tokenizer((Path(dir_path) / ASSET).read_text(encoding="utf-8"))


def item_texts(
    content: Mapping[str, Any] | Sequence[Any],
    fields: Sequence[str] | None,
    serialization: Mapping[str, Any] | None = None,
) -> list[str]:
    """The text a cross-encoder reads for each item.

    One field (or a plain sequence of texts): the text itself. Several fields: one
    `"field: value; field: value"` text per item, empty and missing values left out (as the
    hybrid record tower's pretrained encoder reads records). With `serialization`
    (`data.serialize.fit_serialization`'s `max_words` and `idf`): Ditto's `COL field VAL value`,
    as the lm_record tower reads records (`data.serialize.serialize_records`).

    Args:
        content: a sequence of texts, or field name -> `(n,)` column (a catalogue's content or
            the index's metadata columns).
        fields: the fields to read, in order (None: every column of `content`, in its order).

    Example:
    >>> item_texts({"title": ["sony tv"], "price": [399.0]}, ["title", "price"])
    ['title: sony tv; price: 399']
    """
    if not isinstance(content, Mapping):
        return [_text(value) for value in content]
    names = list(fields) if fields else list(content)
    missing = [name for name in names if name not in content]
    if missing:
        raise DataError(f"Expected the fields {names} in the items. Missing: {missing}")
    columns = [[_text(value) for value in content[name]] for name in names]
    if serialization is not None:
        return serialize_records(names, columns, serialization["idf"], int(serialization["max_words"]))
    return columns[0] if len(names) == 1 else record_texts(names, columns)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return f"{float(value):g}"
    return str(value).strip()
