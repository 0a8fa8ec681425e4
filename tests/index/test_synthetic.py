"""The synthetic data set: seeded, clustered, float32."""

from __future__ import annotations

import numpy as np

from simsearch.index import make_synthetic


def test_the_same_seed_gives_the_same_rows() -> None:
    xb, xq = make_synthetic(500, 16, nq=20, seed=3)
    assert xb.shape == (500, 16) and xq.shape == (20, 16) and xb.dtype == xq.dtype == np.float32
    again = make_synthetic(500, 16, nq=20, seed=3)
    np.testing.assert_array_equal(xb, again[0])
    np.testing.assert_array_equal(xq, again[1])
    assert not np.array_equal(xb, make_synthetic(500, 16, nq=20, seed=4)[0])


def test_rows_are_clustered() -> None:
    xb, _ = make_synthetic(2000, 32, n_clusters=8, seed=0)
    sq = (xb**2).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * xb @ xb.T, 0))
    np.fill_diagonal(dist, np.inf)
    nearest, typical = dist.min(1).mean(), np.median(dist[np.isfinite(dist)])
    assert nearest < 0.3 * typical  # far closer to a neighbour than to a random row
