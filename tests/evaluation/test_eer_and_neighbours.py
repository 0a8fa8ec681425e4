"""Equal error rate against a dense sweep of the ROC, and the nearest-neighbour grid plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simsearch.errors import DataError
from simsearch.evaluation.metrics import equal_error_rate
from simsearch.evaluation.plots import plot_neighbours


@pytest.mark.parametrize(
    ("same", "scores", "eer"),
    [
        ([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 0.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 1.0),
        ([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], 0.5),
        ([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.3, 0.7, 0.2, 0.1], 1 / 3),
    ],
    ids=["separable", "reversed", "one-swap", "one-of-three"],
)
def test_hand_built(same: list[int], scores: list[float], eer: float) -> None:
    assert equal_error_rate(same, scores) == pytest.approx(eer)


@pytest.mark.parametrize("seed", [0, 1])
def test_between_the_error_rates_of_the_nearest_thresholds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    same = rng.integers(0, 2, 400)
    scores = rng.normal(size=400) + same * 1.5
    eer = equal_error_rate(same, scores)
    # Sweep every threshold: false accepts fall and false rejects rise; the EER lies where the
    # two curves cross, between their values at the two thresholds around the crossing.
    far = np.array([(scores[same == 0] >= t).mean() for t in np.sort(scores)])
    frr = np.array([(scores[same == 1] < t).mean() for t in np.sort(scores)])
    i = int(np.flatnonzero(frr >= far)[0])
    assert min(far[i], frr[i - 1]) - 1e-9 <= eer <= max(far[i - 1], frr[i]) + 1e-9


def test_neighbour_grid_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = plot_neighbours(
        rng.uniform(size=(3, 8, 8, 1)),  # SYNTHETIC images
        rng.uniform(size=(3, 4, 8, 8, 1)),
        np.sort(rng.uniform(size=(3, 4)), axis=1),
        rng.integers(0, 2, (3, 4)).astype(bool),
        tmp_path / "grid.png",
        query_labels=["a", "b", "c"],
        neighbour_labels=[["a", "b", "c", "d"]] * 3,
        threshold=0.5,
    )
    with Image.open(path) as image:
        assert image.width > 300 and image.height > 200


def test_neighbour_grid_checks_shapes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Expected queries"):
        plot_neighbours(
            np.zeros((2, 8, 8, 1)),
            np.zeros((2, 3, 8, 8, 1)),
            np.zeros((2, 4)),
            np.zeros((2, 4)),
            tmp_path / "x.png",
        )
