"""Contract suite of the tower registry: every registered kind is built from items, fitted one
step, saved, loaded back and asked to encode raw items, through its `TowerKind` alone.

A new kind gets these checks by adding a `CASES` entry: tiny SYNTHETIC items and raw queries.
The face kind runs on 128-d vectors standing in for dlib descriptors (its `prepare` passes them
through); the photos themselves go through dlib in `test_face_kind_encodes_photos`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.models import SiameseModel, TrainConfig
from simsearch.models.calibration import untrained_head
from simsearch.models.fitting import fit_items
from simsearch.models.recipe import build, model_config
from simsearch.tower_kinds import TOWER_KINDS, TOWERS, tower_kind

PEOPLE, PER_CLASS = 4, 4
LABELS = np.repeat(np.arange(PEOPLE), PER_CLASS).astype(np.int64)
# SYNTHETIC product titles and prices: class c's titles share a word, prices its order of size.
WORDS = ("phone", "laptop", "kettle", "mouse")
TITLES = np.array([f"{WORDS[c]} model {i} {('white', 'black')[i % 2]}" for i, c in enumerate(LABELS)], object)
PRICES = np.array([10.0 ** (c + 1) * (1 + 0.1 * i) for i, c in enumerate(LABELS)], np.float32)


def _tiny_bert() -> str:
    """A SYNTHETIC tiny BERT (random weights, a word-level vocabulary) written once per run."""
    import tempfile

    from tests.models.test_pretrained import write_tiny_bert

    root = Path(tempfile.mkdtemp(prefix="tiny_bert_")) / "model"
    write_tiny_bert(root)
    return str(root)


TINY_BERT = _tiny_bert()


def _items(images: Any = None, fields: dict[str, Any] | None = None) -> Items:
    return Items(
        ids=np.arange(len(LABELS)),
        labels=LABELS,
        classes=tuple(map(str, range(PEOPLE))),
        images=images,
        fields=fields or {},
    )


def _clustered(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """SYNTHETIC items: one random centre per class plus a little noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(size=(PEOPLE, *shape))
    x = centres[LABELS] + 0.05 * rng.normal(size=(len(LABELS), *shape))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Case:
    """Training items of a kind, its tiny settings, and raw items as a user gives them."""

    items: Callable[[], Items]
    settings: dict[str, Any]
    raw: Callable[[], Any]


CASES: dict[str, Case] = {
    "image": Case(
        lambda: _items(images=_clustered((12, 12, 1))),
        {"blocks": 1, "filters": 4, "embedding_dim": 8},
        lambda: _clustered((12, 12, 1), seed=1)[:3],
    ),
    "text": Case(
        lambda: _items(fields={"title": TITLES}),
        {"text_fields": ["title"], "embedding_dim": 8, "max_tokens": 100, "ngram_tokens": 100},
        lambda: ["kettle model 99", "an unseen gadget", ""],
    ),
    "record": Case(
        lambda: _items(fields={"title": TITLES, "price": PRICES}),
        {"text_fields": ["title"], "numeric_fields": ["price"], "embedding_dim": 8, "ngram_tokens": 100},
        lambda: [{"title": "phone model 7", "price": "12.5"}, {"title": "mouse"}, {"price": 3}],
    ),
    "lm_record": Case(
        lambda: _items(fields={"title": TITLES, "price": PRICES}),
        {"text_fields": ["title"], "numeric_fields": ["price"], "pretrained": TINY_BERT, "max_words": 6},
        lambda: [{"title": "phone model 7", "price": "12.5"}, {"title": "mouse"}, {"price": 3}],
    ),
    "face": Case(
        lambda: _items(images=_clustered((128,)) / np.sqrt(128)),
        {},
        lambda: _clustered((128,), seed=1)[:3] / np.sqrt(128),
    ),
}
TINY_FIT = TrainConfig(
    loss="softmax", epochs=1, steps_per_epoch=1, batch_size=8, classes_per_batch=4,
    learning_rate=0.1, augment=False, keep_baseline=False, verbose=0,
)  # fmt: skip


def test_every_registered_kind_has_a_case() -> None:
    assert sorted(CASES) == sorted(TOWERS)


@pytest.mark.parametrize("kind", TOWERS)
def test_build_fit_save_load_encode(kind: str, tmp_path: Path) -> None:
    case = CASES[kind]
    items = case.items()
    built = build(kind, items, case.settings)
    assert built.kind == kind and built.dim == int(built.tower.output_shape[-1])
    assert set(built.settings) == {f.name for f in dataclasses.fields(tower_kind(kind).settings_class())}
    x = built.inputs(items)
    before = [w.copy() for w in built.tower.get_weights()]
    history = fit_items(built.tower, kind, x, items.labels, TINY_FIT, None, "loss")
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    moved = [not np.array_equal(a, b) for a, b in zip(before, built.tower.get_weights(), strict=True)]
    assert any(moved), f"one fit step left every weight of the {kind} tower as it was"

    head, summary = untrained_head(built.dim, 10.0, "contract test")
    threshold = {"distance": 0.5, "probability": None}
    model = SiameseModel(built.tower, head, model_config(built, TINY_FIT, threshold, summary, history))
    raw = case.raw()
    expected = model.encode(raw)
    assert expected.shape == (3, built.dim) and expected.dtype == np.float32
    assert np.all(np.isfinite(expected))
    model.save(tmp_path / kind)

    loaded = SiameseModel.load(tmp_path / kind)
    assert (loaded.kind, loaded.dim, loaded.metric) == (kind, built.dim, built.metric)
    np.testing.assert_allclose(loaded.encode(raw), expected, rtol=1e-5, atol=1e-6)
    # The registry's own preparation is what the model encodes.
    prepared = tower_kind(kind).prepare(raw, loaded.config["inputs"])
    np.testing.assert_allclose(np.asarray(loaded.tower(prepared)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", TOWERS)
def test_blank_item_fits_the_tower(kind: str) -> None:
    case = CASES[kind]
    built = build(kind, case.items(), case.settings)
    out = np.asarray(built.tower(tower_kind(kind).blank(built.spec)))
    assert out.shape == (1, built.dim) and np.all(np.isfinite(out))


@pytest.mark.parametrize("kind", TOWERS)
def test_items_of_the_other_reading_are_refused(kind: str) -> None:
    """An image kind refuses fields and a table kind refuses images, before building."""
    from simsearch.errors import DataError
    from simsearch.models.recipe import check_tower

    other = "text" if tower_kind(kind).is_image else "image"
    with pytest.raises(DataError, match=f"for the {kind} tower"):
        check_tower(kind, CASES[other].items())


def test_face_kind_encodes_photos(tmp_path: Path, shared_data: Path) -> None:
    """A face model, saved and loaded, finds and describes the faces of photos (dlib)."""
    pytest.importorskip("face_recognition_models", reason="the face kind reads photos with dlib's models")
    pytest.importorskip("dlib", reason="the face kind reads photos with dlib")
    faces = shared_data / "faces" / "att_orl_faces"
    if not faces.is_dir():
        pytest.skip(f"needs the ORL faces in {faces}")
    from simsearch.data.faces import FaceConfig, face_descriptors

    photos = [str(faces / "s1" / "1.pgm"), str(faces / "s2" / "1.pgm")]
    built = build("face", CASES["face"].items(), {"on_no_face": "whole-image"})
    head, summary = untrained_head(built.dim, 10.0, "contract test")
    config = model_config(built, TINY_FIT, {"distance": 0.6, "probability": None}, summary, {})
    SiameseModel(built.tower, head, config).save(tmp_path / "face")
    loaded = SiameseModel.load(tmp_path / "face")
    oracle = face_descriptors(photos, FaceConfig(on_no_face="whole-image"))  # the tower starts as identity
    np.testing.assert_allclose(loaded.encode(photos), oracle, rtol=1e-5, atol=1e-6)


def test_registry_lists_each_kind_once_under_its_name() -> None:
    # train --tower's choices, in this order
    assert TOWERS == ("image", "text", "record", "lm_record", "face")
    assert all(name == kind.name for name, kind in TOWER_KINDS.items())
