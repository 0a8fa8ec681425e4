"""What is written can be read: text normalised before any vocabulary, a trained model on odd
Unicode that loads back and encodes the same, and a save that does not load back kept aside,
marked invalid, with the cause Keras hides in the middle of its message."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.errors import ModelDirError, ModelFileError
from simsearch.models import SiameseModel, TrainConfig, build_head_model, train_pairs
from simsearch.models.inputs import normalize_text, table_inputs
from simsearch.models.towers import RecordTowerConfig, build_record_tower

# Every character Python's str.splitlines breaks a line on (Keras reads a saved vocabulary with it).
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.mark.parametrize("char", [*LINE_BREAKS, "\t", "\x00", "\x7f"], ids=lambda c: f"U+{ord(c):04X}")
def test_normalize_text_leaves_no_line_break(char: str) -> None:
    text = normalize_text(f"smith{char}j")
    assert text == "smith j"
    assert text.splitlines() == [text]


def test_normalize_text_makes_nfc_and_nfd_one_form() -> None:
    nfd = unicodedata.normalize("NFD", "Müller café")
    assert nfd != "Müller café"
    assert normalize_text(nfd) == normalize_text("Müller café") == "Müller café"


# SYNTHETIC bibliographic records: 12 works, each with a second cataloguing of it (another
# normal form, separators, control characters) at +12.
TITLES = [
    "Über die Zahl", "Café society", "Smith, J.\x85Oxford", "Le\u2028Monde", "Náufrago", "Ökonomie",
    "Résumé\u2029notes", "Tabs\tand\nlines", "Zoë's garden", "Crème brûlée", "x\x1cy studies", "Año nuevo",
]  # fmt: skip
SECOND = [unicodedata.normalize("NFD", t).replace("\x85", "\u2028") + " (2nd ed.)" for t in TITLES]


def _bibliographic() -> tuple[Items, Pairs]:
    n = len(TITLES)
    catalog = Items(
        ids=np.arange(2 * n),
        labels=np.full(2 * n, -1),
        classes=(),
        fields={
            "title": np.array(TITLES + SECOND, object),
            "place": np.array(["Oxford\x85UK"] * 2 * n, object),
        },
    )
    left = np.r_[np.arange(n), np.arange(n)]
    right = np.r_[np.arange(n) + n, (np.arange(n) + 3) % n + n]
    return catalog, Pairs(left, right, np.r_[np.ones(n), np.zeros(n)].astype(np.int8))


@pytest.mark.parametrize("architecture", ["linear", "mlp"])
def test_record_towers_adapted_on_odd_unicode_save_reload_and_encode_the_same(
    tmp_path: Path, architecture: str
) -> None:
    catalog, _ = _bibliographic()
    content = catalog.content()
    columns = table_inputs(content, ["title", "place"], [])
    settings = RecordTowerConfig(text_fields=("title", "place"), embedding_dim=8, architecture=architecture)
    config = {"kind": "record", "inputs": {"text_fields": ["title", "place"]}, "dim": 8, "metric": "cosine"}
    model = SiameseModel(build_record_tower(columns, settings), build_head_model(8), config)
    model.save(tmp_path / "model", probe=catalog.content(np.arange(8)))  # checks it loads back
    loaded = SiameseModel.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.encode(content), model.encode(content), rtol=1e-4, atol=1e-5)
    nfc = loaded.encode({"title": ["Crème brûlée"], "place": ["Oxford UK"]})
    nfd = loaded.encode({"title": [unicodedata.normalize("NFD", "Crème brûlée")], "place": ["Oxford\x85UK"]})
    np.testing.assert_array_equal(nfc, nfd)


@pytest.mark.slow  # ~80 s on a busy 2-core machine: the whole pairs training, calibration and head
def test_a_model_trained_on_odd_unicode_saves_reloads_and_encodes_the_same(tmp_path: Path) -> None:
    catalog, pairs = _bibliographic()
    config = TrainConfig(
        loss="bce", epochs=1, steps_per_epoch=2, batch_size=8, head_epochs=1, verbose=0, keep_baseline=False
    )
    model = train_pairs(
        catalog, pairs, tower="record", tower_settings={"embedding_dim": 8}, config=config, val_pairs=pairs
    )
    content = catalog.content()
    model.save(tmp_path / "model", probe=catalog.content(np.arange(8)))  # checks it loads back
    loaded = SiameseModel.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.encode(content), model.encode(content), rtol=1e-4, atol=1e-5)
    # The oracle of the normalisation: NFD and NFC forms are one text to the tower.
    nfc = loaded.encode({"title": ["Crème brûlée"], "place": ["Oxford UK"]})
    nfd = loaded.encode({"title": [unicodedata.normalize("NFD", "Crème brûlée")], "place": ["Oxford\x85UK"]})
    np.testing.assert_array_equal(nfc, nfd)


def _vocabulary_model(texts: list[str]) -> SiameseModel:
    """A text model whose vocabulary is adapted from `texts` as they are (not normalised)."""
    vectorizer = layers.TextVectorization(standardize=None, split="whitespace", output_mode="count")
    vectorizer.adapt(np.array(texts, object))
    inputs = keras.Input((), dtype="string", name="text")
    outputs = layers.UnitNormalization()(layers.Dense(4, name="embedding")(vectorizer(inputs)))
    config = {"kind": "text", "inputs": {"text_fields": ["title"]}, "dim": 4, "metric": "cosine"}
    return SiameseModel(keras.Model({"text": inputs}, outputs), build_head_model(4), config)


def test_a_save_that_does_not_load_back_is_kept_aside_marked_invalid(tmp_path: Path) -> None:
    target = tmp_path / "model"
    good = _vocabulary_model(["ab cd", "ef"])
    good.save(target, probe=["ab cd", "ef"])
    # "ab\x85" reads back from vocabulary.txt as "ab" and "": a repeated term.
    bad = _vocabulary_model(["ab\x85 ab", "cd"])
    with pytest.raises(ModelFileError, match="repeated term") as caught:
        bad.save(target, probe=["ab", "cd"])
    message = str(caught.value)
    assert "\n" not in message and "record" not in message
    assert "layer" in message and f"'{target}.invalid'" in message
    # Nothing replaced the good model; the bad files are kept aside, marked and refused.
    np.testing.assert_allclose(SiameseModel.load(target).encode(["ab cd"]), good.encode(["ab cd"]), atol=1e-6)
    invalid = tmp_path / "model.invalid"
    assert "repeated term" in (invalid / "INVALID.txt").read_text(encoding="utf-8")
    with pytest.raises(ModelDirError, match="marked invalid"):
        SiameseModel.load(invalid)
    # Without its mark, loading names the cause Keras gives in the middle of its message.
    (invalid / "INVALID.txt").unlink()
    with pytest.raises(
        ModelFileError, match=r"layer '\w+' \(TextVectorization\) could not be loaded.*repeated term"
    ):
        SiameseModel.load(invalid)
