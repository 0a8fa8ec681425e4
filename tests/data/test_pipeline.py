"""Tests of the tf.data pipelines: shapes, gathered values, dict and str content."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data import Pairs, class_balanced_batches, make_pairs, make_triplets
from simsearch.errors import DataError

tf = pytest.importorskip("tensorflow")
pipeline = pytest.importorskip("simsearch.data.pipeline")

N = 24
LABELS = np.repeat(np.arange(6), 4).astype(np.int64)
IMAGES = np.arange(N * 3 * 2, dtype=np.float32).reshape(N, 3, 2, 1) / (N * 6)
RECORDS = {
    "title": np.array([f"item {i} é" for i in range(N)]),
    "price": np.arange(N, dtype=np.float32) * 1.5,
}


def _decoded(column: np.ndarray) -> list[str]:
    return [value.decode("utf-8") for value in column]


@pytest.fixture(params=[False, True], ids=["constant", "numpy-function"])
def gather_path(request, monkeypatch) -> bool:
    """Run a test through both ways of gathering rows: a constant tensor and numpy."""
    if request.param:
        monkeypatch.setattr(pipeline, "CONSTANT_LIMIT", 0)
    return request.param


def test_pair_dataset_images_in_order(gather_path: bool) -> None:
    pairs = make_pairs(LABELS, 10, seed=0)
    data = pipeline.pair_dataset(IMAGES, IMAGES, pairs, batch_size=4, shuffle=False)
    batches = list(data.as_numpy_iterator())
    assert [len(same) for (_, _), same in batches] == [4, 4, 2]
    (a, b), same = batches[0]
    assert a.shape == (4, 3, 2, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, IMAGES[pairs.left[:4]])
    np.testing.assert_array_equal(b, IMAGES[pairs.right[:4]])
    assert same.dtype == np.float32
    np.testing.assert_array_equal(same, pairs.same[:4].astype(np.float32))


def test_pair_dataset_shuffles_whole_pairs_and_repeats() -> None:
    pairs = make_pairs(LABELS, 16, seed=1)
    data = pipeline.pair_dataset(IMAGES, IMAGES, pairs, batch_size=16, seed=3, repeat=True)
    first, second = list(data.take(2).as_numpy_iterator())
    (a, b), same = first
    got = {
        (float(x[0, 0, 0]), float(y[0, 0, 0]), float(s)) for x, y, s in zip(a, b, same, strict=True)
    }
    want = {
        (float(IMAGES[i, 0, 0, 0]), float(IMAGES[j, 0, 0, 0]), float(s))
        for i, j, s in zip(pairs.left, pairs.right, pairs.same, strict=True)
    }
    assert got == want  # each pair kept together, all pairs present
    assert not np.array_equal(first[0][0], second[0][0])  # reshuffled on the next pass


def test_pair_dataset_two_record_catalogues(gather_path: bool) -> None:
    right = {"title": np.array(["x", "y", "z"]), "price": np.array([1, 2, 3], np.float32)}
    pairs = Pairs(left=[5, 0], right=[2, 1], same=[1, 0])
    data = pipeline.pair_dataset(RECORDS, right, pairs, batch_size=2, shuffle=False)
    (a, b), same = next(iter(data.as_numpy_iterator()))
    assert set(a) == {"title", "price"}
    assert _decoded(a["title"]) == ["item 5 é", "item 0 é"]
    np.testing.assert_array_equal(a["price"], [7.5, 0.0])
    assert _decoded(b["title"]) == ["z", "y"]
    np.testing.assert_array_equal(same, [1.0, 0.0])


def test_pair_dataset_rejects_positions_out_of_range() -> None:
    pairs = Pairs(left=[0], right=[N], same=[0])
    with pytest.raises(DataError, match=r"pairs\.right in \[0, 24\)"):
        pipeline.pair_dataset(IMAGES, IMAGES, pairs, batch_size=2)


def test_episode_dataset_matches_class_balanced_batches(gather_path: bool) -> None:
    data = pipeline.episode_dataset(IMAGES, LABELS, p=3, k=2, n_batches=4, seed=5)
    episodes = list(data.as_numpy_iterator())
    expected = list(class_balanced_batches(LABELS, p=3, k=2, n_batches=4, seed=5))
    assert len(episodes) == 4
    for (x, y), index in zip(episodes, expected, strict=True):
        assert x.shape == (6, 3, 2, 1)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(x, IMAGES[index])
        np.testing.assert_array_equal(y, LABELS[index])
        assert len(np.unique(y.reshape(3, 2)[:, 0])) == 3


def test_episode_dataset_new_batches_each_pass_and_dict_content() -> None:
    data = pipeline.episode_dataset(RECORDS, LABELS, p=2, k=3, n_batches=3, seed=0)
    first = [y for _, y in data.as_numpy_iterator()]
    second = [y for _, y in data.as_numpy_iterator()]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    x, y = next(iter(data.as_numpy_iterator()))
    assert set(x) == {"title", "price"} and x["title"].shape == (6,)
    assert [int(t.split()[1]) // 4 for t in _decoded(x["title"])] == y.tolist()
    with pytest.raises(DataError, match="at least p=7 classes"):
        pipeline.episode_dataset(IMAGES, LABELS, p=7, k=2, n_batches=1)


def test_triplet_dataset_gathers_each_role(gather_path: bool) -> None:
    triplets = make_triplets(LABELS, 6, seed=2)
    data = pipeline.triplet_dataset(IMAGES, triplets, batch_size=6, shuffle=False)
    a, p, n = next(iter(data.as_numpy_iterator()))
    for got, index in zip((a, p, n), triplets, strict=True):
        np.testing.assert_array_equal(got, IMAGES[index])


def test_encode_dataset_keeps_order(gather_path: bool) -> None:
    batches = list(pipeline.encode_dataset(IMAGES, batch_size=10).as_numpy_iterator())
    assert [len(b) for b in batches] == [10, 10, 4]
    np.testing.assert_array_equal(np.concatenate(batches), IMAGES)
    records = list(pipeline.encode_dataset(RECORDS, batch_size=24).as_numpy_iterator())
    assert _decoded(records[0]["title"]) == RECORDS["title"].tolist()
