"""The face tower on dlib descriptors: identity at the start, Keras contract, and the training
rule that keeps the frozen descriptor unless fine-tuning beats it on held-out people.

No dlib here: `prepare_inputs` passes `(n, 128)` descriptors through, so seeded clustered
vectors stand in for the descriptors of photos."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.errors import ConfigError
from simsearch.models import SiameseModel, TrainConfig, train_items
from simsearch.models.face_tower import FaceTowerConfig, ResidualDense, build_face_tower


def _descriptors(people: int, photos: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered 128-d vectors, one cluster per person, spread like dlib's (norm ~1)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 128)) / np.sqrt(128)
    labels = np.repeat(np.arange(people), photos)
    x = centres[labels] + 0.02 * rng.normal(size=(len(labels), 128))
    return x.astype(np.float32), labels.astype(np.int64)


def test_starts_as_the_identity_and_round_trips(tmp_path: Path) -> None:
    x, _ = _descriptors(3, 4)
    tower = build_face_tower()
    np.testing.assert_allclose(np.asarray(tower(x)), x, atol=1e-7)
    layer = tower.get_layer("residual")
    layer.kernel.assign(np.full((128, 128), 0.01, np.float32))
    expected = x + x @ np.full((128, 128), 0.01, np.float32)  # oracle: the formula in numpy
    np.testing.assert_allclose(np.asarray(tower(x)), expected, rtol=1e-5, atol=1e-6)
    tower.save(tmp_path / "face.keras")
    loaded = keras.models.load_model(tmp_path / "face.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, rtol=1e-5, atol=1e-6)
    assert isinstance(ResidualDense.from_config(layer.get_config()), ResidualDense)


def test_normalised_tower_and_bad_dropout() -> None:
    x, _ = _descriptors(2, 2)
    out = np.asarray(build_face_tower(FaceTowerConfig(normalize=True))(x))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ConfigError, match="dropout"):
        build_face_tower(FaceTowerConfig(dropout=1.5))


def test_training_keeps_the_frozen_descriptor_when_it_is_not_beaten(tmp_path: Path) -> None:
    x, labels = _descriptors(12, 5)
    items = Items(ids=np.arange(len(x)), labels=labels, classes=tuple(map(str, range(12))), images=x)
    val_x, val_labels = _descriptors(6, 5, seed=1)
    val = Items(ids=np.arange(len(val_x)), labels=val_labels, classes=tuple(map(str, range(6))), images=val_x)
    config = TrainConfig(
        loss="softmax", epochs=2, steps_per_epoch=3, batch_size=20, classes_per_batch=4,
        learning_rate=0.5, head_epochs=1, augment=False, verbose=0,
    )  # fmt: skip
    model = train_items(items, tower="face", config=config, val_items=val)
    # The held-out people are perfectly separated from the start: nothing can beat that.
    validation = model.config["validation"]
    assert (validation["metric"], validation["chosen"]) == ("val_tar_at_far", "baseline")
    assert validation["scores"]["baseline"] == 1.0  # the frozen descriptor is the baseline
    assert model.kind == "face" and model.metric == "l2" and model.dim == 128
    np.testing.assert_allclose(model.encode(val_x), val_x, atol=1e-6)
    far = model.calibration["far"]
    assert far["n_impostor"] == 15 * 25 and far["n_genuine"] == 6 * 10  # every held-out pair
    model.save(tmp_path / "model")
    assert SiameseModel.load(tmp_path / "model").config["inputs"]["face"]["on_no_face"] == "error"
