"""The cross-encoder against an independent NumPy forward pass, on a SYNTHETIC tiny BERT.

The oracle reads `[CLS] a [SEP] b [SEP]` (token types 0 then 1) through the NumPy `BertModel`
of `test_pretrained`, then BERT's pooler (tanh) on the first token and the scoring layer, then
the sigmoid: what Hugging Face's `BertForSequenceClassification` with one label computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the pretrained extra (tokenizers) is not installed")
pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from tokenizers import Tokenizer

from simsearch.errors import ConfigError, DataError, ModelDirError
from simsearch.evaluation.metrics import roc_auc
from simsearch.models import siamese
from simsearch.models.cross import CrossEncoder
from simsearch.models.tokenizer import item_texts
from simsearch.search.fusion import fit_fusion, fuse

from .test_pretrained import numpy_bert_states, write_tiny_bert

LEFT = ["the cat sat on the mat", "sony tv 3 gb", "", "hello world hello world hello world"]
RIGHT = ["a dog sat", "sony tv 3 gb pro max black", "apple ipad", "hello"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("tiny_bert")
    return root, write_tiny_bert(root)


def numpy_cross(
    root: Path, weights: dict[str, np.ndarray], cross: CrossEncoder, max_length: int, pooling: str
) -> np.ndarray:
    config = json.loads((root / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    kernel, bias = (np.asarray(v, np.float64) for v in cross.model.get_layer("score").get_weights())
    out = []
    for a, b in zip(LEFT, RIGHT, strict=True):
        encoding = tokenizer.encode(a, b)
        states = numpy_bert_states(weights, config, np.array(encoding.ids), np.array(encoding.type_ids))
        if pooling == "mean":
            pooled = states.mean(0)
        else:
            pooled = np.tanh(states[0] @ weights["pooler.dense.weight"].T + weights["pooler.dense.bias"])
        logit = float(pooled @ kernel[:, 0] + bias[0])
        out.append(1.0 / (1.0 + np.exp(-logit)))
    return np.array(out)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("max_length", [64, 8], ids=["whole", "truncated"])
def test_predict_matches_numpy_bert_pair_classifier(
    tiny: tuple[Path, dict[str, np.ndarray]], max_length: int, pooling: str
) -> None:
    root, weights = tiny
    cross = CrossEncoder.from_pretrained(root, max_length=max_length, pooling=pooling)
    got = cross.predict(LEFT, RIGHT, batch_size=3)  # batches of mixed lengths, reordered
    np.testing.assert_allclose(got, numpy_cross(root, weights, cross, max_length, pooling), atol=1e-5)


def test_pairs_are_two_segments_cut_to_max_length(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    cross = CrossEncoder.from_pretrained(tiny[0], max_length=8)
    ids, types = cross.tokenize(["the cat sat"], ["a dog sat on the mat"])
    assert len(ids[0]) == 8
    assert types[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # [CLS] the cat [SEP] | a dog sat [SEP]
    assert (ids[0] == 3).sum() == 2  # two [SEP]


def test_item_texts_read_one_field_or_name_several() -> None:
    assert item_texts(["a", "b"], None) == ["a", "b"]
    assert item_texts({"text": np.array(["x", "y"], object)}, None) == ["x", "y"]
    records = {"title": ["sony tv", "ipad"], "brand": ["sony", None], "price": [399.0, float("nan")]}
    assert item_texts(records, ["title", "brand", "price"]) == [
        "title: sony tv; brand: sony; price: 399",
        "title: ipad",
    ]
    with pytest.raises(DataError, match=r"Missing: \['colour'\]"):
        item_texts(records, ["title", "colour"])


def test_item_texts_serialized_as_the_lm_record_tower_reads_records() -> None:
    records = {"title": ["Sony KDL-40V4100 TV"], "price": [399.0]}
    serialization = {"max_words": 64, "idf": {}}
    assert item_texts(records, ["title", "price"], serialization) == [
        "COL title VAL sony kdl40v4100 tv COL price VAL 399"
    ]


def test_a_serializing_reranker_keeps_its_serialization_through_save_and_load(
    tiny: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    from simsearch.data.items import Items
    from simsearch.data.pairs import Pairs
    from simsearch.data.serialize import fit_serialization, serialize_records
    from simsearch.models.cross import train_reranker

    titles = np.array(["the red cat sat", "a red cat", "the blue dog", "a dog"], object)
    catalog = Items(ids=np.arange(4), labels=np.full(4, -1), classes=(), fields={"title": titles})
    pairs = Pairs(left=np.array([0, 2, 0]), right=np.array([1, 3, 3]), same=np.array([1, 1, 0], np.int8))
    cross = train_reranker(
        catalog, pairs, valid_pairs=pairs, pretrained=tiny[0], max_length=16, epochs=1,
        serialize=True, verbose=0,
    )  # fmt: skip
    expected = fit_serialization([list(titles)], 4)  # a quarter of max_length
    assert cross.config["serialize"] == expected
    texts = serialize_records(["title"], [list(titles)], expected["idf"], 4)
    assert cross.texts(catalog.fields) == texts and texts[0].startswith("COL title VAL ")
    cross.save(tmp_path / "cross")
    assert CrossEncoder.load(tmp_path / "cross").texts(catalog.fields) == texts


def test_fit_learns_a_synthetic_pair_rule_and_keeps_the_best_epoch(
    tiny: tuple[Path, dict[str, np.ndarray]],
) -> None:
    # SYNTHETIC task: a pair matches when both sentences name the same colour.
    rng = np.random.default_rng(0)
    nouns = ["cat", "dog", "mat", "sony", "tv", "ipad", "apple", "case"]
    left, right, y = [], [], []
    for _ in range(240):
        a, b = rng.choice(["red", "blue", "black"], 2)
        left.append(f"the {a} {rng.choice(nouns)}")
        right.append(f"a {rng.choice(nouns)} {b}")
        y.append(float(a == b))
    cut = 180
    cross = CrossEncoder.from_pretrained(tiny[0], max_length=32)
    before = roc_auc(np.array(y[cut:]), cross.predict(left[cut:], right[cut:]))
    history = cross.fit(
        left[:cut],
        right[:cut],
        y[:cut],
        valid=(left[cut:], right[cut:], y[cut:]),
        valid_metric=lambda t, p: roc_auc(t.astype(int), p),
        epochs=20,
        batch_size=16,
        learning_rate=5e-3,
        verbose=0,
    )
    after = roc_auc(np.array(y[cut:]), cross.predict(left[cut:], right[cut:]))
    assert after > 0.9 > before
    assert after == pytest.approx(max(history["val_score"]), abs=1e-6)  # the best epoch's weights


def test_save_load_round_trip_and_a_failed_save_keeps_the_old_directory(
    tiny: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cross = CrossEncoder.from_pretrained(tiny[0], fields=["title"], max_length=16)
    cross.config["threshold"] = 0.4
    cross.save(tmp_path / "reranker")
    loaded = CrossEncoder.load(tmp_path / "reranker")
    np.testing.assert_allclose(loaded.predict(LEFT, RIGHT), cross.predict(LEFT, RIGHT), atol=1e-6)
    assert (loaded.fields, loaded.threshold, loaded.config["max_length"]) == (["title"], 0.4, 16)

    def disk_full(model: object) -> object:
        raise OSError("No space left on device")

    monkeypatch.setattr(siamese, "_inference_copy", disk_full)
    with pytest.raises(OSError, match="No space"):
        CrossEncoder.from_pretrained(tiny[0], max_length=8).save(tmp_path / "reranker")
    assert CrossEncoder.load(tmp_path / "reranker").config["max_length"] == 16
    assert [p.name for p in tmp_path.iterdir()] == ["reranker"]  # no temporary left behind


def test_bad_inputs_name_what_was_expected(tiny: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    cross = CrossEncoder.from_pretrained(tiny[0], max_length=16)
    with pytest.raises(DataError, match=r"targets in \[0, 1\].*range \[0, 5\]"):
        cross.fit(["a", "b"], ["c", "d"], [0.0, 5.0], verbose=0)
    with pytest.raises(DataError, match=r"as many left as right texts\. Received: 2 and 1"):
        cross.predict(["a", "b"], ["c"])
    with pytest.raises(ConfigError, match=r"pooling in \['cls', 'mean'\]"):
        CrossEncoder.from_pretrained(tiny[0], max_length=16, pooling="max")
    with pytest.raises(ConfigError, match="max_length <= 64"):
        CrossEncoder.from_pretrained(tiny[0], max_length=65)
    with pytest.raises(ModelDirError, match="Missing"):
        (tmp_path / "empty").mkdir()
        CrossEncoder.load(tmp_path / "empty")
    with pytest.raises(ModelDirError, match="not a directory"):
        CrossEncoder.load(tmp_path / "nowhere")


def test_a_tower_whose_fields_are_missing_is_refused_before_training(
    tiny: tuple[Path, dict[str, np.ndarray]],
) -> None:
    from types import SimpleNamespace

    from simsearch.data.items import Items
    from simsearch.data.pairs import Pairs
    from simsearch.models.cross import train_reranker

    catalog = Items(
        ids=np.array(["a", "b"]), labels=np.array([-1, -1]), classes=(), fields={"title": np.array(LEFT[:2])}
    )
    pairs = Pairs(left=np.array([0]), right=np.array([1]), same=np.array([1], np.int8))
    tower = SimpleNamespace(config={"inputs": {"text_fields": ["name"], "numeric_fields": ["price"]}})
    with pytest.raises(DataError, match=r"tower's fields \['name', 'price'\].*Missing: \['name', 'price'\]"):
        train_reranker(catalog, pairs, valid_pairs=pairs, pretrained=tiny[0], max_length=16, tower=tower)


def test_fusion_recovers_known_weights_and_fuses_by_its_formula() -> None:
    # SYNTHETIC scores: targets built exactly from the two features.
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 500)
    d = rng.uniform(0.0, 2.0, 500)
    logit = np.log(p / (1 - p))
    y = 0.2 * logit - 0.5 * d + 0.7
    weights = fit_fusion(p, d, y, ridge=0.0)
    assert weights == pytest.approx({"cross": 0.2, "distance": -0.5, "bias": 0.7}, abs=1e-5)
    np.testing.assert_allclose(fuse(p, d, weights), y, atol=1e-4)
    with pytest.raises(DataError, match="one tower distance per cross-encoder score"):
        fuse(p, d[:3], weights)
