"""The language-model record tower: its serialiser layer against `serialize_records` on
hand-built records, and supervised contrastive training on match clusters with a tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from simsearch.data.pairs import Pairs
from simsearch.data.serialize import fit_serialization, serialize_records
from simsearch.models import TrainConfig
from simsearch.models.fitting import fit_pairs
from simsearch.models.lm_tower import column_texts
from simsearch.models.recipe import build
from tests.models.test_pretrained import write_tiny_bert

# SYNTHETIC records: items 2k and 2k+1 are the same product, written by two shops.
NAMES = np.array(
    [
        *("Sony KDL-40V4100 TV", "sony kdl40v4100 lcd tv"),
        *("the red cat sat", "a red cat"),
        *("dog on a mat", "the dog mat"),
    ],
    object,
)
PRICES = np.array([999.0, 1099.0, 5.0, np.nan, 12.5, 12.0], np.float32)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lm_tower") / "bert"
    write_tiny_bert(root)
    return root


def _built(tiny_bert: Path):  # type: ignore[no-untyped-def]
    from simsearch.data.items import Items

    items = Items(
        ids=np.arange(6), labels=np.full(6, -1), classes=(), fields={"name": NAMES, "price": PRICES}
    )
    settings = {"text_fields": ["name"], "numeric_fields": ["price"], "max_words": 3}
    settings["pretrained"] = str(tiny_bert)
    return build("lm_record", items, settings), items


def test_column_texts_read_numbers_bytes_and_missing_values() -> None:
    assert column_texts(np.array([999.0, np.nan, 12.5], np.float32)) == ["999", "", "12.5"]
    assert column_texts(np.array([b"sony", b"tv"], object)) == ["sony", "tv"]


def test_the_serializer_layer_writes_what_serialize_records_writes(tiny_bert: Path) -> None:
    built, items = _built(tiny_bert)
    x = built.inputs(items)
    serializer = built.tower.get_layer("serializer")
    columns = [[str(v) for v in NAMES], column_texts(PRICES)]
    oracle = serialize_records(["name", "price"], columns, fit_serialization(columns, 3)["idf"], 3)
    assert serializer.serialize([x["name"], x["price"]]) == oracle
    # 3 words in all: the price keeps its one, the name the 2 of highest IDF (ties: the earlier).
    assert oracle[0] == "COL name VAL sony kdl40v4100 COL price VAL 999"
    assert oracle[2] == "COL name VAL the sat COL price VAL 5"
    assert oracle[3] == "COL name VAL a red cat COL price VAL"  # fits; no price
    got = serializer([x["name"], x["price"]]).numpy()
    assert [t.decode() for t in got] == oracle


def test_supcon_training_on_match_clusters_moves_the_encoder(tiny_bert: Path) -> None:
    built, items = _built(tiny_bert)
    x = built.inputs(items)
    left, right = np.array([0, 2, 4, 0, 2]), np.array([1, 3, 5, 5, 4])
    pairs = Pairs(left=left, right=right, same=np.array([1, 1, 1, 0, 0]))
    before = [w.copy() for w in built.tower.get_weights()]
    config = TrainConfig(
        loss="supcon", epochs=2, steps_per_epoch=2, batch_size=6, learning_rate=1e-3,
        encoder_learning_rate=1e-3, keep_baseline=False, verbose=0,
    )  # fmt: skip
    history = fit_pairs(built.tower, "lm_record", x, pairs, np.full(6, -1), config, None, "loss")
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
    assert any(not np.array_equal(a, b) for a, b in zip(before, built.tower.get_weights(), strict=True))
