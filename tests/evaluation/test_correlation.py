"""Spearman and Pearson against scipy.stats (the reference implementation)."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.errors import DataError
from simsearch.evaluation.correlation import pearson, spearman

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_matches_scipy(ties: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = 0.5 * x + rng.normal(size=200)
    if ties:
        x, y = np.round(x), np.round(y * 2) / 2
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_monotone_is_one_and_constant_is_zero() -> None:
    x = np.arange(10.0)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert pearson(x, np.ones(10)) == 0.0


def test_bad_shapes_are_named() -> None:
    with pytest.raises(DataError, match="Expected two"):
        spearman([1.0, 2.0], [1.0])
