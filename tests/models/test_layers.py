"""Contract tests of `RandomAffine`: identity at inference, its affine convention, config, save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

from simsearch.models.layers import RandomAffine

SETTINGS = {
    "rotation": 15.0,
    "shear": 0.2,
    "scale": 0.1,
    "shift": 0.1,
    "fill_mode": "constant",
    "seed": 3,
}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Four 28×28 images, each a grey 6×8 block (a brighter corner) at its own place on black."""
    out = np.zeros((4, 28, 28, 1), np.float32)
    for image, (row, col) in zip(out, [(8, 10), (12, 6), (7, 12), (11, 11)], strict=True):
        image[row : row + 6, col : col + 8] = 0.5
        image[row : row + 2, col : col + 2] = 1.0
    return out


def _centre_of_mass(image: np.ndarray) -> np.ndarray:
    """`(row, column)` centre of mass of a `(h, w, 1)` image."""
    mass = image[..., 0]
    rows, cols = np.indices(mass.shape)
    return np.array([(rows * mass).sum(), (cols * mass).sum()]) / mass.sum()


@pytest.mark.parametrize("training", [False, None], ids=["training-false", "training-unset"])
def test_identity_at_inference(images: np.ndarray, training: bool | None) -> None:
    out = RandomAffine(**SETTINGS)(images, training=training)
    np.testing.assert_array_equal(np.asarray(out), images)


def test_changes_every_image_in_training(images: np.ndarray) -> None:
    out = np.asarray(RandomAffine(**SETTINGS)(images, training=True))
    assert out.shape == images.shape
    assert out.dtype == np.float32
    changed = np.abs(out - images).reshape(len(images), -1).max(axis=1)
    assert np.all(changed > 0.1), f"largest pixel change per image: {changed}"


def test_draws_differ_between_calls(images: np.ndarray) -> None:
    layer = RandomAffine(**SETTINGS)
    first, second = (np.asarray(layer(images, training=True)) for _ in range(2))
    assert not np.allclose(first, second)


def test_zero_ranges_are_the_identity_in_training(images: np.ndarray) -> None:
    layer = RandomAffine(rotation=0.0, shear=0.0, scale=0.0, shift=0.0, seed=1)
    np.testing.assert_allclose(np.asarray(layer(images, training=True)), images, atol=1e-5)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["upper-bound", "lower-bound"])
def test_pure_shift_moves_the_content_against_the_translation(
    images: np.ndarray, sign: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The matrix maps an output pixel to the input pixel it reads, `x_in = x_out + tx`, so a
    translation `+tx` moves the content by `-tx`: with every draw at `sign * bound`, `shift=0.1`
    on 28 pixels moves the centre of mass by `-sign * 2.8` pixels on both axes."""
    layer = RandomAffine(rotation=0.0, shear=0.0, scale=0.0, shift=0.1, fill_mode="constant")
    monkeypatch.setattr(layer, "_uniform", lambda n, bound: ops.full((n,), sign * bound))
    out = np.asarray(layer(images, training=True))
    for before, after in zip(images, out, strict=True):
        moved = _centre_of_mass(after) - _centre_of_mass(before)
        # Bilinear sampling keeps first moments while the content stays inside the image.
        np.testing.assert_allclose(moved, [-sign * 2.8, -sign * 2.8], atol=1e-3)


def test_compute_output_shape_is_the_input_shape() -> None:
    assert RandomAffine().compute_output_shape((None, 28, 28, 1)) == (None, 28, 28, 1)


def test_config_round_trip() -> None:
    layer = RandomAffine(**SETTINGS, fill_value=0.5, name="augment")
    config = layer.get_config()
    for key, value in {**SETTINGS, "fill_value": 0.5}.items():
        assert config[key] == value
    assert RandomAffine.from_config(config).get_config() == config
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is RandomAffine
    assert restored.get_config() == config


def test_keras_file_round_trip(images: np.ndarray, tmp_path: Path) -> None:
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, RandomAffine(**SETTINGS, name="augment")(inputs))
    path = tmp_path / "augment.keras"
    model.save(path)
    loaded: Any = keras.models.load_model(path, safe_mode=True)
    layer = loaded.get_layer("augment")
    assert isinstance(layer, RandomAffine)
    assert layer.get_config() == model.get_layer("augment").get_config()
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), images)
    assert not np.allclose(np.asarray(loaded(images, training=True)), images)
