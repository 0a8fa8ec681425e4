"""Shared fixtures of the test suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the real datasets folder (`../shared/data` beside the repo), or skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA.resolve()}")
    return SHARED_DATA.resolve()


@pytest.fixture(autouse=True, scope="session")
def one_faiss_thread() -> Iterator[None]:
    """Run FAISS on one thread: the inputs are small, and OpenMP spin-waits on a busy machine."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)
