"""The settings of a training run, readable without TensorFlow: `TrainConfig` and the names it
accepts (`LOSSES`, `OPTIMIZERS`) and the tower kinds (`TOWERS`, from `simsearch.tower_kinds`).

The CLI builds its `--help` (choices of `--loss`, `--tower`) from these names without importing
Keras; `simsearch.models.training` trains with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simsearch.errors import ConfigError
from simsearch.tower_kinds import TOWERS

__all__ = ["LOSSES", "OPTIMIZERS", "TOWERS", "TrainConfig"]

LOSSES = ("contrastive", "triplet", "bce", "softmax", "cosent", "supcon")
OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes:
        encoder_learning_rate: learning rate of a pretrained encoder's weights (towers with
            `architecture="pretrained"` or `"hybrid"`); `learning_rate` trains the rest.
        loss: `"contrastive"` (pair distances, Y=0 similar as in Hadsell et al.), `"triplet"`
            (online mining), `"bce"` (pairwise head), `"softmax"` (multi-negative softmax over
            class prototypes in P×K episodes; strongest for one-shot in our runs), `"cosent"`
            (pairs only: ranks the batch's cosines by the pairs' graded `score`, or by their
            labels when they have none; how sentence-transformers trains on STS-B), `"supcon"`
            (supervised contrastive over batches of match clusters, each drawn with a labelled or
            TF-IDF-mined non-match, the rest of the batch its negatives; R-SupCon).
        margin: contrastive / triplet margin; None = 1.0 for contrastive, 0.2 for triplet.
        mining: triplet mining, `"batch_all"`, `"batch_hard"` or `"semi_hard"`.
        scale: softmax scale; None learns it (starting at 10). CoSENT scale; None = 20.
        batch_size: pairs per batch, or items per episode (`classes_per_batch` × K).
        classes_per_batch: P of the P×K episodes; None = batch_size // 4.
        steps_per_epoch: batches per epoch.
        augment: random affine augmentation of images, in training only.
        affine: its ranges: (rotation in degrees, shear, relative scale, shift as a share of
            the image size); Koch et al. used about (10, 0.3, 0.2, 0.02).
        rotate_classes: add each class turned by 90°, 180°, 270° as new classes (images).
        monitor: validation metric for early stopping and the best checkpoint.
        patience: epochs without improvement before stopping.
        val_fraction: share of classes (items) or pairs held out when no validation set is given.
        head_epochs: epochs of the head's training on hard negatives.
        threshold_criterion: what the calibrated thresholds maximise on the held-out pairs,
            `"f1"` or `"accuracy"`.
        checkpoint_dir: where the best weights are written during training (optional).
        log_dir: TensorBoard log directory (optional).
        keep_baseline: save the non-learned baseline (or the untrained start state) instead
            of the trained tower when training does not beat it on held-out data
            (`simsearch.models.selection`); False always saves the trained tower.
        candidate_k: with labelled pairs, each held-out item's nearest neighbours mined as
            held-out candidate pairs (`simsearch.models.candidates`; `dedup`'s and `match`'s
            default -k); 0 measures and calibrates on the user's held-out pairs alone.
        mined_negatives: keep the mined neighbours that no labelled match links as negatives;
            False for pair files known to miss links (the mined positives are kept).
    """

    loss: Literal["contrastive", "triplet", "bce", "softmax", "cosent", "supcon"] = "softmax"
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = 1e-3
    encoder_learning_rate: float = 2e-5
    schedule: Literal["cosine", "constant"] = "cosine"
    epochs: int = 20
    steps_per_epoch: int = 100
    batch_size: int = 128
    classes_per_batch: int | None = None
    margin: float | None = None
    mining: str = "semi_hard"
    scale: float | None = None
    positive_fraction: float = 0.5
    augment: bool = True
    affine: tuple[float, float, float, float] = (10.0, 0.15, 0.1, 0.05)
    rotate_classes: bool = False
    monitor: str | None = None
    patience: int = 5
    val_fraction: float = 0.2
    head_epochs: int = 10
    threshold_criterion: Literal["f1", "accuracy"] = "f1"
    seed: int = 0
    checkpoint_dir: str | None = None
    log_dir: str | None = None
    keep_baseline: bool = True
    candidate_k: int = 10
    mined_negatives: bool = True
    verbose: Any = "auto"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"Expected loss to be one of {list(LOSSES)}. Received: loss={self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"Expected optimizer to be one of {list(OPTIMIZERS)}. Received: optimizer={self.optimizer!r}"
            )
        for name in ("epochs", "steps_per_epoch", "batch_size", "learning_rate", "encoder_learning_rate"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"Expected {name} > 0. Received: {name}={getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"Expected 0 < val_fraction < 1. Received: val_fraction={self.val_fraction}")
        choices = {
            "schedule": ("cosine", "constant"),
            "mining": ("batch_all", "batch_hard", "semi_hard"),
            "threshold_criterion": ("f1", "accuracy"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"Expected {name} to be one of {list(allowed)}. Received: {name}={getattr(self, name)!r}"
                )
        for name in ("margin", "scale"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"Expected {name} > 0. Received: {name}={value}")
        for name in ("patience", "head_epochs", "candidate_k"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Expected {name} >= 0. Received: {name}={getattr(self, name)}")
        if not 0.0 < self.positive_fraction < 1.0:
            raise ConfigError(
                f"Expected 0 < positive_fraction < 1. Received: positive_fraction={self.positive_fraction}"
            )

    @property
    def p_k(self) -> tuple[int, int]:
        p = self.classes_per_batch or max(2, self.batch_size // 4)
        k = self.batch_size // p
        if k < 2:
            raise ConfigError(
                f"Expected batch_size >= 2 * classes_per_batch (two items per class at least). "
                f"Received: batch_size={self.batch_size}, classes_per_batch={p}"
            )
        return p, k
