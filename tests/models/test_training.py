"""Tiny end-to-end training runs (real Omniglot images, a SYNTHETIC product catalogue) and the
training helpers: entity labels, rotated classes, settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.errors import ConfigError, DataError
from simsearch.models import training
from simsearch.models.fitting import entity_labels
from simsearch.models.siamese import Comparison, SiameseModel
from simsearch.models.training import rotate_classes, split_pairs, train_items, train_pairs
from simsearch.train_config import TrainConfig


def _val_distances(model: SiameseModel, val: Items) -> np.ndarray:
    """All pairwise distances of the validation items, under the model's metric."""
    e = model.encode(val.images)
    return model.distance(e[:, None, :], e[None, :, :])


@pytest.mark.parametrize(
    ("loss", "settings", "metric"),
    [
        pytest.param("softmax", {}, "cosine", id="softmax"),
        # Same EmbeddingTrainer / PairTrainer paths as softmax and contrastive: slow only.
        pytest.param("triplet", {}, "cosine", id="triplet", marks=pytest.mark.slow),
        pytest.param("bce", {}, "cosine", id="bce", marks=pytest.mark.slow),
        pytest.param("contrastive", {"normalize": False}, "l2", id="contrastive-l2"),
    ],
)
def test_train_items_returns_a_calibrated_model(
    train_tiny: Callable[..., SiameseModel],
    omniglot_split: tuple[Items, Items],
    tiny_settings: dict[str, Any],
    loss: str,
    settings: dict[str, Any],
    metric: str,
) -> None:
    model = train_tiny(loss, **settings)
    assert isinstance(model, SiameseModel)
    config = model.config
    assert (config["kind"], config["dim"], config["metric"]) == (
        "image",
        tiny_settings["embedding_dim"],
        metric,
    )
    assert config["training"]["loss"] == loss
    assert config["classes"] == {"train": 32, "validation": 8}
    assert len(model.history["loss"]) == config["epochs_run"] == 2
    assert np.all(np.isfinite(model.history["loss"]))
    assert {"val_precision_at_1", "val_recall_at_5", "val_oneshot"} <= set(model.history)
    assert any(key.startswith("head_") for key in model.history), "no history of the head's fit"
    threshold = config["threshold"]
    assert isinstance(threshold["distance"], float)
    assert isinstance(threshold["probability"], float)
    assert 0.0 < threshold["probability"] < 1.0
    # The distance threshold is calibrated on validation pairs, in the model's own metric.
    distances = _val_distances(model, omniglot_split[1])
    assert np.isclose(distances, threshold["distance"], rtol=1e-5, atol=1e-7).any()
    if loss == "softmax":
        assert model.history["scale"][0] > 0.0


def test_train_items_holds_out_whole_classes(
    omniglot: Items, tiny_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop the run at the fit and check what it would train on and validate on."""
    seen: dict[str, np.ndarray] = {}

    class Stop(Exception):
        pass

    def fit(
        tower: Any,
        kind: str,
        x: Any,
        labels: np.ndarray,
        config: Any,
        validation: Any,
        monitor: str,
    ) -> Any:
        seen["train"], seen["val"], seen["monitor"] = labels, validation.labels, np.array(monitor)
        raise Stop

    monkeypatch.setattr(training, "fit_items", fit)
    with pytest.raises(Stop):
        train_items(
            omniglot,
            tower="image",
            tower_settings=tiny_settings,
            config=TrainConfig(val_fraction=0.25),
        )
    train, val = set(seen["train"].tolist()), set(seen["val"].tolist())
    assert train.isdisjoint(val)
    assert train | val == set(np.unique(omniglot.labels).tolist())
    assert len(val) == round(0.25 * len(train | val))
    assert str(seen["monitor"]) == "val_precision_at_1"


# SYNTHETIC: 20 made-up product titles and a copy of each with a typo (a dropped letter).
SYNTHETIC_TITLES = [
    "apple iphone 12 64gb black",
    "samsung galaxy s21 ultra 128gb",
    "sony wh-1000xm4 headphones",
    "dell xps 13 laptop 16gb",
    "logitech mx master 3 mouse",
    "canon eos r6 mirrorless camera",
    "nintendo switch oled console",
    "bose quietcomfort 45 headset",
    "lenovo thinkpad x1 carbon",
    "kindle paperwhite 8gb ereader",
    "gopro hero 10 action camera",
    "dyson v11 cordless vacuum",
    "fitbit charge 5 fitness tracker",
    "asus rog strix g15 gaming laptop",
    "jbl flip 5 bluetooth speaker",
    "philips hue white starter kit",
    "garmin forerunner 245 watch",
    "microsoft surface pro 8 tablet",
    "hp laserjet pro m404n printer",
    "anker powercore 10000 charger",
]


def _with_typo(title: str, i: int) -> str:
    cut = 3 + (7 * i) % (len(title) - 4)
    return title[:cut] + title[cut + 1 :]


@pytest.fixture(scope="module")
def synthetic_catalog() -> tuple[Items, Pairs]:
    """40 SYNTHETIC titles (20 products, each with a typo'd duplicate at +20) and 60 pairs."""
    n = len(SYNTHETIC_TITLES)
    titles = SYNTHETIC_TITLES + [_with_typo(t, i) for i, t in enumerate(SYNTHETIC_TITLES)]
    catalog = Items(
        ids=np.arange(2 * n),
        labels=np.full(2 * n, -1),
        classes=(),
        fields={"title": np.array(titles, object)},
    )
    left = np.r_[np.arange(n), np.arange(n), np.arange(n)]
    right = np.r_[np.arange(n) + n, (np.arange(n) + 1) % n + n, (np.arange(n) + 5) % n]
    same = np.r_[np.ones(n), np.zeros(2 * n)].astype(np.int8)
    return catalog, Pairs(left, right, same)


def test_train_pairs_on_a_synthetic_catalogue(synthetic_catalog: tuple[Items, Pairs]) -> None:
    catalog, pairs = synthetic_catalog
    settings = {
        "architecture": "sequence",
        "embedding_dim": 16,
        "hidden": 32,
        "token_dim": 8,
        "max_tokens": 500,
        "ngram_tokens": 500,
    }
    config = TrainConfig(
        loss="softmax", epochs=2, steps_per_epoch=5, batch_size=16, head_epochs=1, verbose=0,
        keep_baseline=False,
    )  # fmt: skip
    # Given held-out pairs: the split path (60 pairs alone would be cross-validated).
    train, valid = split_pairs(pairs, 0.2, 0)
    model = train_pairs(
        catalog, train, tower="text", tower_settings=settings, config=config, val_pairs=valid
    )
    assert isinstance(model, SiameseModel)
    assert (model.kind, model.dim, model.metric) == ("text", 16, "cosine")
    assert model.config["inputs"] == {"text_fields": ["title"]}
    assert model.config["pairs"] == {"train": 48, "validation": 12}
    # The typo'd twins separate perfectly after one epoch: no gain is left, training stops there.
    assert model.history["val_average_precision"] == [1.0]
    assert len(model.history["loss"]) == model.config["epochs_trained"] == 1
    assert {"val_average_precision", "val_auc"} <= set(model.history)
    assert any(key.startswith("head_") for key in model.history), "no history of the head's fit"
    assert all(
        isinstance(model.config["threshold"][key], float) for key in ("distance", "probability")
    )
    embeddings = model.encode(SYNTHETIC_TITLES[:3])
    assert embeddings.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    result = model.compare(SYNTHETIC_TITLES[0], _with_typo(SYNTHETIC_TITLES[0], 0))
    assert isinstance(result, Comparison)
    assert 0.0 < result.probability < 1.0
    assert isinstance(result.same, bool)


def test_train_pairs_with_cosent_on_graded_scores(synthetic_catalog: tuple[Items, Pairs]) -> None:
    catalog, pairs = synthetic_catalog
    # Graded SYNTHETIC scores: typo twins 5, neighbouring products 1, far ones 0.
    n = len(SYNTHETIC_TITLES)
    graded = Pairs(pairs.left, pairs.right, pairs.same, np.r_[np.full(n, 5.0), np.ones(n), np.zeros(n)])
    settings = {"architecture": "sequence", "embedding_dim": 16, "hidden": 32, "token_dim": 8,
                "max_tokens": 500, "ngram_tokens": 500}  # fmt: skip
    config = TrainConfig(
        loss="cosent", epochs=3, steps_per_epoch=4, batch_size=16, head_epochs=1, verbose=0,
        keep_baseline=False,
    )  # fmt: skip
    train, valid = split_pairs(graded, 0.2, 0)
    model = train_pairs(catalog, train, tower="text", tower_settings=settings, config=config, val_pairs=valid)
    # Held-out pairs with scores give the Spearman measure that early stopping follows.
    assert len(model.history["val_spearman"]) == len(model.history["loss"]) == 3
    assert all(-1.0 <= v <= 1.0 for v in model.history["val_spearman"])
    assert model.history["loss"][-1] < model.history["loss"][0]
    assert model.config["training"]["loss"] == "cosent"
    # The head is fitted to the scores rescaled by the training range: its output is on 0-1.
    assert model.config["head"]["output"] == {"graded_score": [0.0, 5.0]}
    assert "head_graded_loss" in model.history and "head_graded_val_pearson" in model.history


def _same_entity(labels: np.ndarray) -> np.ndarray:
    return (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)


def test_entity_labels_match_hand_built_groups() -> None:
    # Positive chains merged in an order that makes union-find join two existing roots:
    # {0, 1, 2, 3} via (2, 3), (0, 1), (1, 3); {5, 6, 8} via (8, 6), (6, 5).
    # 4 and 9 appear only in negative pairs, 7 in none: all three are unlinked.
    pairs = Pairs(
        left=np.array([2, 0, 8, 4, 1, 6, 9]),
        right=np.array([3, 1, 6, 0, 3, 5, 2]),
        same=np.array([1, 1, 1, 0, 1, 1, 0]),
    )
    labels = entity_labels(10, pairs)
    assert labels.dtype == np.int64
    groups = [{0, 1, 2, 3}, {5, 6, 8}]
    expected = np.full(10, -1)
    for g, members in enumerate(groups):
        expected[list(members)] = g
    np.testing.assert_array_equal(labels == -1, expected == -1)
    np.testing.assert_array_equal(_same_entity(labels), _same_entity(expected))


def test_entity_labels_without_positives_are_all_unlinked() -> None:
    pairs = Pairs(np.array([0, 1]), np.array([2, 3]), np.array([0, 0]))
    np.testing.assert_array_equal(entity_labels(4, pairs), [-1, -1, -1, -1])


def test_rotate_classes_adds_three_turned_copies(omniglot: Items) -> None:
    items = omniglot.subset(np.flatnonzero(omniglot.labels < 3))
    n, n_classes = len(items), len(items.classes)
    rotated = rotate_classes(items)
    assert len(rotated) == 4 * n
    assert len(rotated.classes) == 4 * n_classes
    assert len(np.unique(rotated.labels)) == 4 * len(np.unique(items.labels))
    assert len(np.unique(rotated.ids)) == 4 * n
    for k in range(4):
        block = slice(k * n, (k + 1) * n)
        np.testing.assert_array_equal(rotated.images[block], np.rot90(items.images, k, axes=(1, 2)))
        np.testing.assert_array_equal(rotated.labels[block], items.labels + k * n_classes)
        assert rotated.classes[items.labels[0] + k * n_classes].startswith(
            items.classes[items.labels[0]]
        )
    np.testing.assert_array_equal(rotated.groups, np.tile(items.groups, 4))
    assert not np.array_equal(rotated.images[n], rotated.images[0])


def test_rotate_classes_keeps_unlabelled_items_unlabelled(omniglot: Items) -> None:
    items = omniglot.subset(np.arange(6))
    items = Items(
        ids=items.ids,
        labels=np.array([0, 0, 0, -1, -1, 0]),
        classes=items.classes,
        images=items.images,
    )
    rotated = rotate_classes(items)
    assert np.all(rotated.labels[np.tile(items.labels, 4) == -1] == -1)


def test_rotate_classes_needs_images(synthetic_catalog: tuple[Items, Pairs]) -> None:
    with pytest.raises(ConfigError, match="Expected image items"):
        rotate_classes(synthetic_catalog[0])


def test_train_items_rejects_an_unknown_tower_and_mismatched_items(
    omniglot: Items, synthetic_catalog: tuple[Items, Pairs]
) -> None:
    with pytest.raises(ConfigError, match="Expected tower"):
        train_items(omniglot, tower="audio")
    with pytest.raises(DataError, match="Expected images"):
        train_items(synthetic_catalog[0], tower="image")
