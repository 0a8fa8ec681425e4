"""The false-accept curve (`far_curve`) and `threshold_for_far` against brute-force counts."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation.evaluate import all_pairs_far_curve, pair_distances, tar_at_far
from simsearch.evaluation.metrics import far_curve, threshold_for_far


def _pairs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    same = (rng.random(3000) < 0.2).astype(np.int64)
    distances = np.where(same == 1, rng.normal(0.3, 0.1, 3000), rng.normal(0.8, 0.15, 3000))
    return same, distances


def test_every_row_counts_what_it_accepts() -> None:
    same, d = _pairs()
    curve = far_curve(same, d, points=50)
    assert curve["n_impostor"] == (same == 0).sum() and curve["n_genuine"] == same.sum()
    for m, (threshold, far, tar) in enumerate(curve["rows"]):
        # oracle: brute-force shares of the pairs at distance <= threshold
        assert (d[same == 0] <= threshold).sum() == m
        assert far == pytest.approx(m / curve["n_impostor"])
        assert tar == pytest.approx((d[same == 1] <= threshold).mean())


@pytest.mark.parametrize("max_far", [0.0, 0.001, 0.005, 0.01], ids=["zero", "0.1%", "0.5%", "1%"])
def test_threshold_for_far_is_the_loosest_within_the_rate(max_far: float) -> None:
    same, d = _pairs(1)
    threshold = threshold_for_far(far_curve(same, d), max_far)
    impostor = np.sort(d[same == 0])
    allowed = int(np.floor(max_far * len(impostor)))
    assert (impostor <= threshold).sum() == allowed  # no more impostors than the rate allows
    assert threshold < impostor[allowed]  # and the next impostor would be one too many


def test_an_unresolvable_rate_names_the_threshold_it_falls_back_to(caplog: pytest.LogCaptureFixture) -> None:
    curve = far_curve([1, 0, 0, 0, 0], [0.1, 0.5, 0.6, 0.7, 0.8])  # 4 impostor pairs: steps of 1/4
    assert threshold_for_far(curve, 0.01) == pytest.approx(0.5 * (1 - 1e-6))
    assert "max_far=0.01 is below what 4 held-out impostor pairs resolve (1/4): using distance <= 0.5," in (
        caplog.text
    )
    caplog.clear()
    assert threshold_for_far(far_curve([1, 0], [0.1, 0.5]), 0.0) < 0.5
    assert "using distance <= 0.5, just below the closest impostor pair" in caplog.text


def test_far_errors() -> None:
    with pytest.raises(ConfigError, match="max_far in"):
        threshold_for_far(far_curve([1, 0], [0.1, 0.5]), 1.5)
    with pytest.raises(DataError, match="false-accept curve"):
        threshold_for_far({}, 0.01)
    with pytest.raises(DataError):
        far_curve([1, 1], [0.1, 0.2])  # no impostor pair


def test_all_pairs_curve_matches_a_loop_over_pairs() -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(6), 5)
    e = (rng.normal(size=(6, 8))[labels] + 0.5 * rng.normal(size=(30, 8))).astype(np.float32)
    curve = all_pairs_far_curve(e, labels, "l2")
    assert curve is not None
    pairs = [(i, j) for i in range(30) for j in range(i + 1, 30)]
    d = np.array([pair_distances(e[i], e[j], "l2") for i, j in pairs])
    same = np.array([labels[i] == labels[j] for i, j in pairs], dtype=np.int64)
    expected = far_curve(same, d)
    assert (curve["n_impostor"], curve["n_genuine"]) == (expected["n_impostor"], expected["n_genuine"])
    np.testing.assert_allclose(curve["rows"], expected["rows"], atol=1e-5)
    cosine = all_pairs_far_curve(e, labels, "cosine")
    d_cos = np.array([pair_distances(e[i], e[j], "cosine") for i, j in pairs])
    assert cosine is not None
    np.testing.assert_allclose(cosine["rows"], far_curve(same, d_cos)["rows"], atol=1e-5)
    assert tar_at_far(curve, 0.0) == pytest.approx((d[same == 1] < d[same == 0].min()).mean())
    assert all_pairs_far_curve(e[:5], labels[:5], "l2") is None  # one class: no impostor pair
