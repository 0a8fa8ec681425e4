"""Seeded, clustered synthetic embeddings for tests and benchmarks (the "synthetic" data set).

Real embeddings are clustered and have a low intrinsic dimension, which is what makes approximate
indexes work on them; isotropic Gaussian noise has neither and is a poor stand-in. Here each
cluster is a random affine patch of dimension `rank` (a centre plus `rank` random directions),
with a little isotropic noise, and clusters of unequal size overlap.

Example:
>>> xb, xq = make_synthetic(10_000, 32, nq=100, seed=0)
>>> xb.shape, xq.shape, xb.dtype
((10000, 32), (100, 32), dtype('float32'))
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["make_synthetic"]


def make_synthetic(
    n: int,
    d: int,
    *,
    nq: int = 0,
    n_clusters: int | None = None,
    rank: int = 8,
    spread: float = 0.6,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Return `(xb, xq)`: `(n, d)` database and `(nq, d)` query float32 rows from the same clusters.

    Args:
        n: database rows.
        d: dimension.
        nq: query rows, drawn from the same clusters but never equal to a database row.
        n_clusters: clusters; default one per ~500 rows (at least 8).
        rank: intrinsic dimension of each cluster.
        spread: scale of a cluster along its directions, relative to the spread of the centres.
        noise: scale of the isotropic noise added to every row.
        seed: the same seed gives the same rows.
    """
    rng = np.random.default_rng(seed)
    c = n_clusters or max(8, (n + nq) // 500)
    centers = rng.standard_normal((c, d)).astype(np.float32)
    bases = (rng.standard_normal((c, rank, d)) * (spread / np.sqrt(rank))).astype(np.float32)
    weights = rng.dirichlet(np.ones(c))

    def draw(m: int) -> npt.NDArray[np.float32]:
        labels = rng.choice(c, size=m, p=weights)
        z = rng.standard_normal((m, rank)).astype(np.float32)
        x = centers[labels] + np.einsum("mr,mrd->md", z, bases[labels])
        x += noise * rng.standard_normal((m, d)).astype(np.float32)
        return x.astype(np.float32)

    return draw(n), draw(nq)
