"""A BERT encoder in Keras 3, laid out like Hugging Face's `BertModel` (and `MPNetModel`) so that a
sentence encoder's `model.safetensors` loads into it tensor by tensor.

- `BertConfig`: the encoder's shape, read from the model directory's `config.json`;
- `BertEncoder`: token ids and padding mask -> `(n, length, hidden_size)` hidden states
  (embeddings, then `num_hidden_layers` post-norm `TransformerBlock`s, as in Devlin et al. 2019).
  MPNet (Song et al. 2020; all-mpnet-base-v2) is the same encoder with three differences, all
  read from its `config.json`: no token types, positions counted from `pad_token_id + 1`, and a
  learned bias per attention head and relative-position bucket (T5's buckets) added to every
  block's attention scores;
- `MaskedMeanPooling`: the mean of the hidden states over the real tokens, as
  sentence-transformers' `Pooling` (mean mode) computes it;
- `load_hf_weights`: copy a `BertModel` state dict (`embeddings.*`, `encoder.layer.N.*`) into a
  `BertEncoder`, transposing Linear weights into Dense kernels.

Only `keras.ops`: the layers run on any backend; the tokenizer (`tokenizer.py`) is the TF part.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
from keras import layers, ops

from simsearch.errors import ConfigError

__all__ = [
    "BertConfig",
    "BertEncoder",
    "FirstToken",
    "MaskedMeanPooling",
    "TransformerBlock",
    "load_hf_weights",
    "relative_position_buckets",
]

ACTIVATIONS = ("gelu", "gelu_new", "relu")
MODEL_TYPES = ("bert", "mpnet")


@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder, named as in Hugging Face's `config.json`."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    hidden_act: str = "gelu"
    model_type: str = "bert"
    relative_attention_num_buckets: int = 0
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ConfigError(f"Expected model_type in {list(MODEL_TYPES)}. Received: {self.model_type!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"Expected hidden_size divisible by num_attention_heads. Received: "
                f"hidden_size={self.hidden_size}, num_attention_heads={self.num_attention_heads}"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"Expected hidden_act in {list(ACTIVATIONS)}. Received: {self.hidden_act!r}")

    @property
    def position_offset(self) -> int:
        """Position id of the first token: MPNet counts from `pad_token_id + 1`, as RoBERTa."""
        return self.pad_token_id + 1 if self.model_type == "mpnet" else 0

    @property
    def max_length(self) -> int:
        """Most tokens per sequence the position embeddings cover."""
        return self.max_position_embeddings - self.position_offset

    @classmethod
    def from_hf(cls, values: Mapping[str, Any]) -> BertConfig:
        """Read a Hugging Face BERT or MPNet `config.json` (other keys are ignored)."""
        model_type = values.get("model_type", "bert")
        position = values.get("position_embedding_type", "absolute")
        if model_type not in MODEL_TYPES or position != "absolute":
            raise ConfigError(
                "Expected a BERT encoder (model_type 'bert', absolute positions) or an MPNet one "
                f"(model_type 'mpnet'). Received: model_type={model_type!r}, "
                f"position_embedding_type={position!r}"
            )
        if model_type == "mpnet":  # no token types; the relative-position bias is required
            values = {"type_vocab_size": 0, "pad_token_id": 1, **values}
            if "relative_attention_num_buckets" not in values:
                raise ConfigError(
                    "Expected relative_attention_num_buckets in the MPNet config.json. "
                    f"Received: {sorted(values)}"
                )
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING)
        missing = [name for name in missing if name not in values]
        if missing:
            raise ConfigError(f"Expected keys {missing} in the BERT config.json. Received: {sorted(values)}")
        return cls(**{k: v for k, v in values.items() if k in names})


def _activation(name: str) -> Any:
    if name == "relu":
        return ops.relu
    approximate = name == "gelu_new"  # "gelu" is the exact erf form
    return lambda x: ops.gelu(x, approximate=approximate)


@keras.saving.register_keras_serializable(package="simsearch")
class TransformerBlock(layers.Layer):
    """One post-norm encoder block: self-attention, add & norm, feed-forward, add & norm.

    Args:
        hidden_size: width of the hidden states.
        num_heads: attention heads; `hidden_size` must be a multiple of it.
        intermediate_size: width of the feed-forward layer.
        layer_norm_eps: epsilon of both layer norms.
        dropout: dropout on the attention and feed-forward outputs, in training only.
        attention_dropout: dropout on the attention probabilities, in training only.
        activation: `"gelu"` (exact), `"gelu_new"` (tanh approximation) or `"relu"`.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        layer_norm_eps: float = 1e-12,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        activation: str = "gelu",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = activation
        self.query = layers.Dense(hidden_size, name="query")
        self.key = layers.Dense(hidden_size, name="key")
        self.value = layers.Dense(hidden_size, name="value")
        self.attention_output = layers.Dense(hidden_size, name="attention_output")
        self.attention_norm = layers.LayerNormalization(epsilon=layer_norm_eps, name="attention_norm")
        self.intermediate = layers.Dense(intermediate_size, name="intermediate")
        self.output_dense = layers.Dense(hidden_size, name="output_dense")
        self.output_norm = layers.LayerNormalization(epsilon=layer_norm_eps, name="output_norm")
        self.attention_drop = layers.Dropout(attention_dropout)
        self.hidden_drop = layers.Dropout(dropout)
        self._act = _activation(activation)

    def build(self, input_shape: Any) -> None:
        hidden = (None, None, self.hidden_size)
        for dense in (self.query, self.key, self.value, self.attention_output, self.intermediate):
            dense.build(hidden)
        self.output_dense.build((None, None, self.intermediate_size))
        self.attention_norm.build(hidden)
        self.output_norm.build(hidden)

    def _heads(self, x: Any) -> Any:
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, self.hidden_size // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, hidden: Any, attention_bias: Any, training: bool | None = None) -> Any:
        """`hidden` `(n, length, hidden_size)`; `attention_bias` `(n, 1, 1, length)`, 0 on real
        tokens and a large negative number on padding."""
        q, k, v = (
            self._heads(self.query(hidden)),
            self._heads(self.key(hidden)),
            self._heads(self.value(hidden)),
        )
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.hidden_size // self.num_heads)
        probabilities = self.attention_drop(ops.softmax(scores + attention_bias, axis=-1), training=training)
        context = ops.transpose(ops.matmul(probabilities, v), (0, 2, 1, 3))
        shape = ops.shape(hidden)
        context = ops.reshape(context, (shape[0], shape[1], self.hidden_size))
        attended = self.hidden_drop(self.attention_output(context), training=training)
        hidden = self.attention_norm(hidden + attended)
        fed = self.output_dense(self._act(self.intermediate(hidden)))
        return self.output_norm(hidden + self.hidden_drop(fed, training=training))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "hidden_size": self.hidden_size,
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "layer_norm_eps": self.layer_norm_eps,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="simsearch")
class BertEncoder(layers.Layer):
    """`[token_ids, padding_mask]` or `[token_ids, padding_mask, token_type_ids]`, each
    `(n, length) int32` (mask: 1 = token, 0 = padding) -> hidden states `(n, length, hidden_size)`.

    Without token type ids all tokens are segment 0, as sentence encoders use them; a cross-encoder
    passes 0 for the first text of a pair and 1 for the second, as BERT was pretrained.

    Args:
        bert_config: `BertConfig` fields as a dict.
        frozen_layers: 0 trains everything; N > 0 freezes the embeddings and the first N blocks
            (N >= `num_hidden_layers` freezes the whole encoder).
    """

    def __init__(self, bert_config: Mapping[str, Any], frozen_layers: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        config = BertConfig(**bert_config)
        if frozen_layers < 0:
            raise ConfigError(f"Expected frozen_layers >= 0. Received: frozen_layers={frozen_layers}")
        self.bert_config = config
        self.frozen_layers = frozen_layers
        self.word_embeddings = layers.Embedding(config.vocab_size, config.hidden_size, name="word_embeddings")
        self.position_embeddings = layers.Embedding(
            config.max_position_embeddings, config.hidden_size, name="position_embeddings"
        )
        self.token_type_embeddings = (
            layers.Embedding(config.type_vocab_size, config.hidden_size, name="token_type_embeddings")
            if config.type_vocab_size
            else None
        )
        # MPNet: one learned score per (relative-position bucket, head), shared by all blocks.
        self.relative_attention_bias = (
            layers.Embedding(
                config.relative_attention_num_buckets,
                config.num_attention_heads,
                name="relative_attention_bias",
            )
            if config.relative_attention_num_buckets
            else None
        )
        self.embeddings_norm = layers.LayerNormalization(
            epsilon=config.layer_norm_eps, name="embeddings_norm"
        )
        self.embeddings_drop = layers.Dropout(config.hidden_dropout_prob)
        self.blocks = [
            TransformerBlock(
                config.hidden_size,
                config.num_attention_heads,
                config.intermediate_size,
                layer_norm_eps=config.layer_norm_eps,
                dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob,
                activation=config.hidden_act,
                name=f"block_{i}",
            )
            for i in range(config.num_hidden_layers)
        ]
        if frozen_layers:
            for layer in (
                *self._embedding_layers(),
                self.embeddings_norm,
                *self.blocks[:frozen_layers],
            ):
                layer.trainable = False

    def _embedding_layers(self) -> list[layers.Embedding]:
        optional = (self.token_type_embeddings, self.relative_attention_bias)
        return [self.word_embeddings, self.position_embeddings, *(e for e in optional if e is not None)]

    def build(self, input_shape: Any) -> None:
        for embedding in self._embedding_layers():
            embedding.build((None, None))
        self.embeddings_norm.build((None, None, self.bert_config.hidden_size))
        for block in self.blocks:
            block.build((None, None, self.bert_config.hidden_size))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        token_ids, padding_mask = inputs[0], inputs[1]
        token_ids = ops.cast(token_ids, "int32")
        length = ops.shape(token_ids)[1]
        offset = self.bert_config.position_offset
        positions = ops.expand_dims(ops.arange(offset, length + offset, dtype="int32"), 0)
        x = self.word_embeddings(token_ids) + self.position_embeddings(positions)
        if self.token_type_embeddings is not None:
            token_types = ops.cast(inputs[2], "int32") if len(inputs) > 2 else ops.zeros_like(token_ids)
            x = x + self.token_type_embeddings(token_types)
        x = self.embeddings_drop(self.embeddings_norm(x), training=training)
        # Padding gets a large negative score before the softmax: exp() of it is exactly 0.
        mask = ops.cast(padding_mask, x.dtype)
        bias = ops.reshape((1.0 - mask) * -1e9, (ops.shape(mask)[0], 1, 1, ops.shape(mask)[1]))
        if self.relative_attention_bias is not None:
            bias = bias + self._position_bias(length)
        for block in self.blocks:
            x = block(x, bias, training=training)
        return x

    def _position_bias(self, length: Any) -> Any:
        """`(1, heads, length, length)`: the learned score of each head for key j seen from query i,
        looked up by the bucket of `j - i`."""
        config = self.bert_config
        span = config.max_position_embeddings
        table = relative_position_buckets(np.arange(-(span - 1), span), config.relative_attention_num_buckets)
        steps = ops.arange(length, dtype="int32")
        relative = ops.expand_dims(steps, 0) - ops.expand_dims(steps, 1)  # key - query
        buckets = ops.take(ops.convert_to_tensor(table.astype("int32")), relative + (span - 1))
        assert self.relative_attention_bias is not None  # called only when the config has buckets
        values = self.relative_attention_bias(buckets)  # (length, length, heads)
        return ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        ids_shape = tuple(input_shape[0])
        return (*ids_shape, self.bert_config.hidden_size)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "bert_config": dataclasses.asdict(self.bert_config),
            "frozen_layers": self.frozen_layers,
        }


def relative_position_buckets(
    relative: npt.ArrayLike, num_buckets: int = 32, max_distance: int = 128
) -> npt.NDArray[np.int64]:
    """MPNet's (and T5's bidirectional) bucket of each relative position `key - query`.

    Half the buckets are for keys before the query, half for keys after it; in each half the
    first `num_buckets // 4` distances have a bucket each and longer ones share buckets
    spaced logarithmically up to `max_distance`. Computed in float32 as Hugging Face's
    `MPNetEncoder.relative_position_bucket`, so the boundaries fall where the weights expect.

    Example:
    >>> relative_position_buckets([-200, -9, -1, 0, 1, 8, 200]).tolist()
    [15, 8, 1, 0, 17, 24, 31]
    """
    n = -np.asarray(relative, dtype=np.int64)
    half = num_buckets // 2
    bucket = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    scaled = (
        np.log(np.maximum(n, 1).astype(np.float32) / np.float32(exact))
        / np.float32(math.log(max_distance / exact))
        * np.float32(half - exact)
    )
    large = np.minimum(exact + scaled.astype(np.int64), half - 1)
    return bucket + np.where(n < exact, n, large)


@keras.saving.register_keras_serializable(package="simsearch")
class MaskedMeanPooling(layers.Layer):
    """`[hidden (n, length, d), padding_mask (n, length)]` -> `(n, d)`: the mean over real tokens.

    Formula: `sum_t mask_t * h_t / max(sum_t mask_t, 1e-9)`, as sentence-transformers' `Pooling`.
    """

    def call(self, inputs: Any) -> Any:
        hidden, padding_mask = inputs
        mask = ops.expand_dims(ops.cast(padding_mask, hidden.dtype), -1)
        return ops.sum(hidden * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1e-9)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape[0])
        return (shape[0], shape[2])


@keras.saving.register_keras_serializable(package="simsearch")
class FirstToken(layers.Layer):
    """`hidden (n, length, d)` -> `(n, d)`: the first ([CLS]) token's state, which BERT's pooler
    and sequence-pair classifiers read."""

    def call(self, hidden: Any) -> Any:
        return hidden[:, 0]

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[2])


# Where `BertModel` and `MPNetModel` name each block's attention tensors.
_ATTENTION_NAMES = {
    "bert": ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"),
    "mpnet": ("attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o"),
}
_ATTENTION_NORM = {"bert": "attention.output.LayerNorm", "mpnet": "attention.LayerNorm"}


def _hf_name_map(encoder: BertEncoder) -> dict[str, tuple[Any, bool]]:
    """Hugging Face tensor name -> (Keras variable, transpose?)."""
    model_type = encoder.bert_config.model_type
    names: dict[str, tuple[Any, bool]] = {
        "embeddings.word_embeddings.weight": (encoder.word_embeddings.embeddings, False),
        "embeddings.position_embeddings.weight": (encoder.position_embeddings.embeddings, False),
        "embeddings.LayerNorm.weight": (encoder.embeddings_norm.gamma, False),
        "embeddings.LayerNorm.bias": (encoder.embeddings_norm.beta, False),
    }
    if encoder.token_type_embeddings is not None:
        names["embeddings.token_type_embeddings.weight"] = (encoder.token_type_embeddings.embeddings, False)
    if encoder.relative_attention_bias is not None:
        names["encoder.relative_attention_bias.weight"] = (encoder.relative_attention_bias.embeddings, False)
    for i, block in enumerate(encoder.blocks):
        prefix = f"encoder.layer.{i}."
        attention = (block.query, block.key, block.value, block.attention_output)
        dense = {
            **dict(zip(_ATTENTION_NAMES[model_type], attention, strict=True)),
            "intermediate.dense": block.intermediate,
            "output.dense": block.output_dense,
        }
        for hf, layer in dense.items():
            names[f"{prefix}{hf}.weight"] = (layer.kernel, True)  # torch Linear is (out, in)
            names[f"{prefix}{hf}.bias"] = (layer.bias, False)
        for hf, norm in (
            (_ATTENTION_NORM[model_type], block.attention_norm),
            ("output.LayerNorm", block.output_norm),
        ):
            names[f"{prefix}{hf}.weight"] = (norm.gamma, False)
            names[f"{prefix}{hf}.bias"] = (norm.beta, False)
    return names


def _canonical(name: str) -> str:
    """`bert.`/`mpnet.`-prefixed names and the old `gamma`/`beta` LayerNorm names, as `BertModel`
    and `MPNetModel` write them."""
    name = name.removeprefix("bert.").removeprefix("mpnet.")
    if ".LayerNorm." in name:
        name = name.replace(".gamma", ".weight").replace(".beta", ".bias")
    return name


def load_hf_weights(encoder: BertEncoder, tensors: Mapping[str, np.ndarray]) -> None:
    """Copy a Hugging Face `BertModel` (or `MPNetModel`) state dict into `encoder` (built or not).

    Tensors the encoder does not use (`pooler.*`, `embeddings.position_ids`, heads) are ignored.

    Raises:
        ConfigError: a tensor the encoder needs is missing or has another shape.
    """
    if not encoder.built:
        encoder.build(None)
    available = {_canonical(name): value for name, value in tensors.items()}
    targets = _hf_name_map(encoder)
    missing = sorted(name for name in targets if name not in available)
    if missing:
        raise ConfigError(
            f"Expected the {encoder.bert_config.model_type} weights "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''} in "
            f"model.safetensors. Received: {len(available)} tensors, e.g. {sorted(available)[:5]}"
        )
    for name, (variable, transpose) in targets.items():
        value = np.asarray(available[name], dtype="float32")
        value = value.T if transpose else value
        if tuple(value.shape) != tuple(variable.shape):
            raise ConfigError(
                f"Expected {name} of shape {tuple(variable.shape)} (from config.json). "
                f"Received: {tuple(value.shape)}"
            )
        variable.assign(value)
