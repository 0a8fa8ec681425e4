"""Shared fixtures of the test suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


ORL_FACES = SHARED_DATA / "faces" / "att_orl_faces"


@pytest.fixture(scope="session")
def face_model() -> Callable[..., Path]:
    """`face_model(path, on_no_face="whole-image")` writes a face model to `path`: the face tower
    at its start (dlib's descriptor itself), thresholds, and the false-accept curve of the pairs
    of ORL's s30-s34. Skips without dlib or ORL."""
    from simsearch.data.faces import dlib_available

    if not dlib_available() or not ORL_FACES.is_dir():
        pytest.skip("needs dlib, face-recognition-models and ../shared/data/faces")
    return _face_model


def _face_model(path: Path, on_no_face: str = "whole-image") -> Path:
    import numpy as np

    from simsearch.data.faces import FaceConfig, face_descriptors
    from simsearch.evaluation.evaluate import all_pairs_far_curve
    from simsearch.models import SiameseModel, build_head_model
    from simsearch.models.face_tower import build_face_tower

    photos = [str(ORL_FACES / f"s{p}" / f"{n}.pgm") for p in range(30, 35) for n in range(1, 6)]
    x = face_descriptors(photos, FaceConfig(on_no_face="whole-image"))
    far = all_pairs_far_curve(x, np.repeat(np.arange(5), 5), "l2")
    config = {
        "kind": "face",
        "inputs": {"face": {"on_no_face": on_no_face}},
        "dim": 128,
        "metric": "l2",
        "threshold": {"distance": 0.6, "probability": 0.5, "curves": {"far": far}},
        "head": {"rerank_default": False},
    }
    SiameseModel(build_face_tower(), build_head_model(128), config).save(path)
    return path
