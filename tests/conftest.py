"""Shared fixtures of the test suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RecordIndex:
    """A tiny record model (`name` text, `price` number), its catalogue (integer ids) and index."""

    model_dir: Path
    catalog: Path
    index_dir: Path


PRODUCTS = [
    ("sony turntable", 99.0),
    ("sony tv 40 inch", 399.0),
    ("samsung tv 40 inch", 379.0),
    ("canon camera", 249.0),
    ("nikon camera", 259.0),
    ("apple iphone case", 19.0),
    ("belkin iphone case", 15.0),
    ("bose speaker", 129.0),
]


@pytest.fixture(scope="session")
def record_index(tmp_path_factory: pytest.TempPathFactory) -> RecordIndex:
    """An untrained record model over `PRODUCTS` (ids 0..7) and its Flat index: the plumbing is
    under test, not the quality."""
    from simsearch.data.loaders import load_table
    from simsearch.engine import build_index
    from simsearch.models import SiameseModel, build_head_model
    from simsearch.models.towers import RecordTowerConfig, build_record_tower

    root = tmp_path_factory.mktemp("records")
    catalog = root / "products.csv"
    catalog.write_text("id,name,price\n" + "".join(f"{i},{n},{p}\n" for i, (n, p) in enumerate(PRODUCTS)))
    items = load_table(catalog, fields=["name", "price"])
    tower = build_record_tower(
        items.fields, RecordTowerConfig(text_fields=("name",), numeric_fields=("price",), embedding_dim=16)
    )
    config = {
        "kind": "record",
        "inputs": {"text_fields": ["name"], "numeric_fields": ["price"]},
        "dim": 16,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    SiameseModel(tower, build_head_model(16), config).save(root / "model")
    build_index(root / "model", items, root / "index", factory="Flat")
    return RecordIndex(root / "model", catalog, root / "index")
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
