"""Fixtures of the dedup tests: one FAISS thread, seeded clustered data with planted duplicates."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.index import make_synthetic

N_BASE, DIM, N_COPIES = 3000, 32, 150  # base rows, dimension, planted near-copies
THRESHOLD = 0.02  # cosine distance: planted copies are ~0.001 apart, natural nearest neighbours ~0.01-0.05


def planted(n_base: int, d: int, n_copies: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Return synthetic rows followed by `n_copies` near-copies of the first `n_copies` rows."""
    xb, _ = make_synthetic(n_base, d, seed=seed)
    rng = np.random.default_rng(seed + 1)
    scale = 0.02 * np.linalg.norm(xb[:n_copies], axis=1, keepdims=True) / np.sqrt(d)
    copies = xb[:n_copies] + scale * rng.standard_normal((n_copies, d)).astype(np.float32)
    return np.vstack([xb, copies]).astype(np.float32)


@pytest.fixture(scope="session")
def catalogue() -> npt.NDArray[np.float32]:
    """3150 rows, d=32: synthetic clusters plus 150 planted near-copies (rows 3000.. copy rows 0..)."""
    return planted(N_BASE, DIM, N_COPIES)
