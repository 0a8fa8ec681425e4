"""Fixtures of the index tests: one FAISS thread, seeded clustered synthetic data."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.index import make_synthetic

from .oracle import DIM, NQ, N


@pytest.fixture(scope="session")
def synthetic() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """`(xb, xq)`: 4000 database and 100 query rows, d=32, from seeded clusters."""
    return make_synthetic(N, DIM, nq=NQ, seed=0)
