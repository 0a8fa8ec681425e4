"""Backbone image towers (keras.applications) from a local weights file, and the raw-pixel tower.

No ImageNet weights are downloaded: the weights files here are SYNTHETIC, a randomly initialised
backbone saved to disk, which is what a user's ImageNet file is to the loading code.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from simsearch.errors import ConfigError, DataError
from simsearch.models import towers
from simsearch.models.backbones import build_backbone
from simsearch.models.towers import ImageTowerConfig, build_image_tower

SIZE = (32, 32)


def _save_weights(model: keras.Model, path: Path) -> Path:
    """Save `model`'s weights in the legacy HDF5 layout of Keras's ImageNet files (`.h5`) or in
    Keras 3's `.weights.h5`, by the suffix."""
    if path.name.endswith(".weights.h5"):
        model.save_weights(str(path))
    else:
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


@pytest.fixture(scope="module")
def synthetic_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A randomly initialised headless MobileNetV3Small saved as a weights file (SYNTHETIC), in
    the layout of Keras's ImageNet files."""
    keras.utils.set_random_seed(7)
    backbone = build_backbone("mobilenetv3_small", SIZE)
    path = tmp_path_factory.mktemp("weights") / "synthetic_mobilenet_v3_small_no_top.h5"
    return _save_weights(backbone, path), [np.asarray(w) for w in backbone.get_weights()]


def _backbone(tower: keras.Model) -> keras.Model:
    return tower.get_layer("mobilenetv3_small_backbone")


def _tower(weights: Path | None, channels: int = 1) -> keras.Model:
    keras.utils.set_random_seed(0)  # another seed than the file's: equal weights come from the file
    config = ImageTowerConfig(
        image_size=SIZE,
        channels=channels,
        architecture="mobilenetv3_small",
        embedding_dim=16,
        weights=None if weights is None else str(weights),
    )
    return build_image_tower(config)


def test_backbone_weights_are_the_files(synthetic_weights: tuple[Path, list[np.ndarray]]) -> None:
    path, expected = synthetic_weights
    loaded = _backbone(_tower(path)).get_weights()
    assert len(loaded) == len(expected)
    for got, want in zip(loaded, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    fresh = _backbone(_tower(None)).get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(fresh, expected, strict=True))


def test_keras3_weights_file(synthetic_weights: tuple[Path, list[np.ndarray]], tmp_path: Path) -> None:
    source = _backbone(_tower(synthetic_weights[0]))
    path = _save_weights(source, tmp_path / "synthetic_backbone.weights.h5")
    for got, want in zip(_backbone(_tower(path)).get_weights(), synthetic_weights[1], strict=True):
        np.testing.assert_array_equal(got, want)


def test_pretrained_batch_norm_is_frozen(synthetic_weights: tuple[Path, list[np.ndarray]]) -> None:
    norms = [
        layer
        for layer in _backbone(_tower(synthetic_weights[0])).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms and not any(layer.trainable for layer in norms)


def test_grey_images_are_tiled_to_rgb(synthetic_weights: tuple[Path, list[np.ndarray]]) -> None:
    grey_tower = _tower(synthetic_weights[0], channels=1)
    rgb_tower = _tower(synthetic_weights[0], channels=3)
    rgb_tower.set_weights(grey_tower.get_weights())
    grey = np.random.default_rng(1).uniform(size=(3, *SIZE, 1)).astype(np.float32)
    np.testing.assert_allclose(
        grey_tower.predict(grey, verbose=0),
        rgb_tower.predict(np.repeat(grey, 3, axis=-1), verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_keras_round_trip_in_safe_mode(
    synthetic_weights: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    tower = _tower(synthetic_weights[0])
    x = np.random.default_rng(2).uniform(size=(2, *SIZE, 1)).astype(np.float32)
    tower.save(tmp_path / "tower.keras")
    loaded = keras.models.load_model(tmp_path / "tower.keras", safe_mode=True, compile=False)
    got = loaded.predict(x, verbose=0)
    np.testing.assert_allclose(got, tower.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"], ids=["legacy-h5", "weights-h5"])
def test_weights_of_another_net_are_refused(tmp_path: Path, suffix: str) -> None:
    light = build_image_tower(ImageTowerConfig(image_size=SIZE, embedding_dim=8))
    path = _save_weights(light, tmp_path / f"light{suffix}")
    with pytest.raises(ConfigError, match="does not fit"):
        _tower(path)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"architecture": "mobilenetv3_small", "weights": "/no/such/file.h5"}, "missing"),
        ({"architecture": "light", "weights": "x.h5"}, "weights only with a backbone"),
        ({"architecture": "efficientnet_b0", "image_size": (16, 16)}, "image_size >= "),
        ({"architecture": "resnet"}, "Expected architecture in"),
    ],
    ids=["missing-file", "weights-without-backbone", "too-small", "unknown"],
)
def test_bad_settings(settings: dict[str, object], match: str) -> None:
    config = {"image_size": SIZE, **settings}
    with pytest.raises(ConfigError, match=match):
        build_image_tower(ImageTowerConfig(**config))  # type: ignore[arg-type]


@pytest.mark.parametrize("normalize", [True, False], ids=["cosine", "l2"])
def test_pixel_tower_is_the_flattened_image(normalize: bool) -> None:
    tower = build_image_tower(
        ImageTowerConfig(image_size=(6, 5), architecture="pixels", embedding_dim=30, normalize=normalize)
    )
    x = np.random.default_rng(3).uniform(size=(4, 6, 5, 1)).astype(np.float32)
    want = x.reshape(4, -1)
    if normalize:
        want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(tower.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert not tower.trainable_weights


def test_linear_tower_starts_as_within_class_whitening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(towers, "WHITENING_SHRINKAGE", 1e-4)  # nearly none: exact whitening
    rng = np.random.default_rng(4)
    # SYNTHETIC: 6 classes x 8 images of 5x5, each class a random prototype plus noise.
    labels = np.repeat(np.arange(6), 8)
    images = (rng.normal(size=(6, 25))[labels] + 0.3 * rng.normal(size=(48, 25))).reshape(48, 5, 5, 1)
    images = images.astype(np.float32)
    tower = build_image_tower(
        ImageTowerConfig(image_size=(5, 5), architecture="linear", embedding_dim=10, normalize=False),
        images,
        labels,
    )
    z = tower.predict(images, verbose=0).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)  # centred on the training mean
    within = np.concatenate([z[labels == c] - z[labels == c].mean(axis=0) for c in range(6)])
    scatter = within.T @ within / len(within)
    # Whitened within classes: identity, up to the tiny shrinkage added before inverting.
    np.testing.assert_allclose(scatter, np.eye(10), atol=2e-3)
    assert len(tower.trainable_weights) == 2


def test_linear_tower_needs_more_images_than_dims() -> None:
    images = np.zeros((4, 5, 5, 1), np.float32)
    with pytest.raises(DataError, match="more labelled images"):
        build_image_tower(
            ImageTowerConfig(image_size=(5, 5), architecture="linear", embedding_dim=8),
            images,
            np.array([0, 0, 1, 1]),
        )
