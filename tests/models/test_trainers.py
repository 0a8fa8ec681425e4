"""The trainers share one tower: proof by variable identity and by a training step, and the
learnable softmax scale of `EmbeddingTrainer`."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import ops

from simsearch.models.head import build_head_model
from simsearch.models.layers import RandomAffine
from simsearch.models.losses import ContrastiveLoss, PairBCELoss, softmax_loss
from simsearch.models.towers import ImageTowerConfig, build_image_tower
from simsearch.models.trainers import EmbeddingTrainer, PairTrainer, embedding_distance

DIM = 8


def _fresh_tower() -> keras.Model:
    """A tower a test may train (the session's `tiny_tower` is only read)."""
    return build_image_tower(ImageTowerConfig(blocks=1, filters=4, embedding_dim=DIM))


def _ids(variables: list) -> list[int]:
    return [id(v) for v in variables]


@pytest.fixture(scope="module")
def pairs_batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(8, 28, 28, 1)).astype(np.float32)
    b = rng.uniform(size=(8, 28, 28, 1)).astype(np.float32)
    same = np.array([1, 0] * 4, np.float32)
    return a, b, same


@pytest.mark.parametrize("with_head", [False, True], ids=["distance", "head"])
def test_pair_trainer_holds_exactly_the_tower_and_head_variables(
    tiny_tower: keras.Model, with_head: bool
) -> None:
    head = build_head_model(int(tiny_tower.output.shape[-1]), hidden=(8,)) if with_head else None
    trainer = PairTrainer(tiny_tower, head, augment=RandomAffine(seed=0))
    expected = [*tiny_tower.trainable_weights, *(head.trainable_weights if head else [])]
    assert len(trainer.trainable_weights) == len(expected)
    assert sorted(_ids(trainer.trainable_weights)) == sorted(_ids(expected))
    # One tower, not two copies: no variable appears twice and none is new.
    assert len(set(_ids(trainer.weights))) == len(trainer.weights)


@pytest.mark.parametrize("with_head", [False, True], ids=["contrastive", "bce"])
def test_pair_training_step_updates_the_one_shared_tower(
    pairs_batch: tuple[np.ndarray, np.ndarray, np.ndarray], with_head: bool
) -> None:
    a, b, same = pairs_batch
    tower = _fresh_tower()
    head = build_head_model(DIM, hidden=(8,), dropout=0.0) if with_head else None
    trainer = PairTrainer(tower, head)
    loss = PairBCELoss() if with_head else ContrastiveLoss(similar_label=1)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    kernels = [w for w in tower.trainable_weights if w.name == "kernel"]
    before = [ops.convert_to_numpy(w) for w in kernels]
    trainer.train_on_batch((a, b), same)
    for weight, old in zip(kernels, before, strict=True):
        assert not np.allclose(ops.convert_to_numpy(weight), old), f"{weight.path} did not move"
    assert _ids(trainer.trainable_weights)[: len(tower.trainable_weights)] == _ids(
        tower.trainable_weights
    )
    # Both branches read the trained tower: the trainer's output is the tower's, either way round.
    u, v = tower(a), tower(b)
    if head is None:
        np.testing.assert_allclose(
            np.asarray(trainer((a, b))), np.asarray(embedding_distance(u, v)), atol=1e-6
        )
        np.testing.assert_allclose(np.asarray(trainer((a, a))), 0.0, atol=1e-5)
        np.testing.assert_allclose(
            np.asarray(trainer((b, a))), np.asarray(trainer((a, b))), atol=1e-6
        )
    else:
        np.testing.assert_allclose(
            np.asarray(trainer((a, b))), np.asarray(head({"u": u, "v": v})), atol=1e-6
        )


def test_embedding_trainer_without_scale_holds_only_the_tower(tiny_tower: keras.Model) -> None:
    trainer = EmbeddingTrainer(tiny_tower, augment=RandomAffine(seed=0))
    assert _ids(trainer.trainable_weights) == _ids(tiny_tower.trainable_weights)
    assert trainer.scale is None
    assert trainer.log_scale is None


def test_embedding_trainer_learnable_scale_is_one_extra_weight(tiny_tower: keras.Model) -> None:
    trainer = EmbeddingTrainer(tiny_tower, learn_scale=True, initial_scale=12.0)
    assert len(trainer.trainable_weights) == len(tiny_tower.trainable_weights) + 1
    extra = set(_ids(trainer.trainable_weights)) - set(_ids(tiny_tower.trainable_weights))
    assert extra == {id(trainer.log_scale)}
    assert float(trainer.log_scale) == pytest.approx(math.log(12.0))
    assert trainer.scale == pytest.approx(12.0, rel=1e-6)


def test_compute_loss_is_softmax_loss_at_the_learned_scale(tiny_tower: keras.Model) -> None:
    trainer = EmbeddingTrainer(tiny_tower, learn_scale=True)
    trainer.log_scale.assign(math.log(3.0))
    rng = np.random.default_rng(1)
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    embeddings = rng.normal(size=(len(labels), DIM * 2)).astype(np.float32)
    got = float(trainer.compute_loss(y=labels, y_pred=embeddings))
    assert got == pytest.approx(float(softmax_loss(labels, embeddings, 3.0)), rel=1e-6)
    assert got != pytest.approx(float(softmax_loss(labels, embeddings, 10.0)), rel=1e-3)


def test_training_step_learns_the_scale_and_the_tower() -> None:
    tower = _fresh_tower()
    trainer = EmbeddingTrainer(tower, learn_scale=True, initial_scale=10.0)
    trainer.compile(optimizer=keras.optimizers.SGD(0.5))
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(8, 28, 28, 1)).astype(np.float32)
    labels = np.repeat(np.arange(4), 2)
    kernel = tower.get_layer("embedding").kernel
    before = ops.convert_to_numpy(kernel)
    loss = trainer.train_on_batch(x, labels)
    assert np.isfinite(loss)
    assert trainer.scale != pytest.approx(10.0, rel=1e-6)
    assert not np.allclose(ops.convert_to_numpy(kernel), before)


def test_augmentation_runs_in_training_only() -> None:
    tower = _fresh_tower()  # a training-mode call moves its batch-norm statistics
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(8, 28, 28, 1)).astype(np.float32)
    trainer = EmbeddingTrainer(tower, augment=RandomAffine(shift=0.2, seed=0))
    np.testing.assert_allclose(np.asarray(trainer(x)), np.asarray(tower(x)), atol=1e-6)
    pairs = PairTrainer(tower, augment=RandomAffine(shift=0.2, seed=0))
    # Each side draws its own transform in training, so an image is no longer at distance 0.
    assert float(np.min(np.asarray(pairs((x, x), training=True)))) > 1e-3
    np.testing.assert_allclose(np.asarray(pairs((x, x))), 0.0, atol=1e-5)
