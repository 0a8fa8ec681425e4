"""tf.data pipelines over content held in numpy: pairs, P×K episodes, triplets and encoding.

The only data module that imports TensorFlow. Datasets carry row positions; each batch of
positions is gathered from the content, held as a constant tensor when small (and always for str
columns), else gathered in numpy through `tf.numpy_function` so large image arrays are not copied.
Content is an image array `(n, ...)` or a dict of `(n,)` field columns (str or numeric); a batch of
dict content is a dict of `(batch,)` tensors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from simsearch.data._sampling import check_count
from simsearch.data.pairs import Pairs
from simsearch.data.triplets import class_balanced_batches
from simsearch.errors import DataError

__all__ = [
    "Content",
    "batch_dataset",
    "encode_dataset",
    "episode_dataset",
    "pair_dataset",
    "triplet_dataset",
]

Content = np.ndarray | Mapping[str, np.ndarray]
CONSTANT_LIMIT = 64 * 2**20  # bytes; larger numeric arrays are gathered in numpy
AUTOTUNE = tf.data.AUTOTUNE


def pair_dataset(
    left_content: Content,
    right_content: Content,
    pairs: Pairs,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = False,
    graded: bool = False,
) -> tf.data.Dataset:
    """Batch labelled pairs as `((a, b), same)` for a siamese model.

    Args:
        left_content: what `pairs.left` points into (`Items.content()`).
        right_content: what `pairs.right` points into; pass the same object for one catalogue.
        pairs: the pairs.
        batch_size: pairs per batch.
        shuffle: reshuffle the pairs on every pass (seeded).
        seed: shuffle seed.
        repeat: repeat forever (then pass `steps_per_epoch` to `fit`).
        graded: yield `pairs.targets()` (the graded score, when the pairs have one) in place
            of `same`.

    Returns:
        A dataset of `((a, b), same)`: `a` and `b` are `(batch, ...)` tensors or dicts of
        `(batch,)` tensors, `same` is `(batch,) float32`, 1.0 for the same class or item.

    Example:
        >>> x = items.content()
        >>> ds = pair_dataset(x, x, make_pairs(items.labels, 20_000), batch_size=128)
    """
    check_count("batch_size", batch_size, 1)
    left = _Gather(left_content)
    right = left if right_content is left_content else _Gather(right_content)
    left.check(pairs.left, "pairs.left")
    right.check(pairs.right, "pairs.right")
    rows = tf.data.Dataset.from_tensor_slices(
        (pairs.left, pairs.right, pairs.targets() if graded else pairs.same.astype(np.float32))
    )
    rows = _order(rows, len(pairs), shuffle=shuffle, seed=seed, repeat=repeat)
    batches = rows.batch(batch_size).map(
        lambda a, b, same: ((left(a), right(b)), same), num_parallel_calls=AUTOTUNE
    )
    return batches.prefetch(AUTOTUNE)


def episode_dataset(
    content: Content, labels: npt.ArrayLike, *, p: int, k: int, n_batches: int, seed: int = 0
) -> tf.data.Dataset:
    """Batch `p` classes × `k` items as `(x, labels)` for online triplet mining or episodes.

    Each pass over the dataset yields `n_batches` batches from `class_balanced_batches`; the first
    pass uses `seed` itself, later passes fresh seeds derived from it, so every epoch differs and
    runs reproduce.

    Returns:
        A dataset of `(x, labels)`: `x` is `(p * k, ...)` (or a dict of `(p * k,)` tensors), class
        by class; `labels` is `(p * k,) int64`, the items' labels.
    """
    codes = np.asarray(labels, dtype=np.int64)
    next(class_balanced_batches(codes, p=p, k=k, n_batches=1, seed=seed))  # fail here, not in fit
    return batch_dataset(
        content,
        codes,
        lambda pass_seed: class_balanced_batches(codes, p=p, k=k, n_batches=n_batches, seed=pass_seed),
        batch_size=p * k,
        seed=seed,
    )


def batch_dataset(
    content: Content,
    labels: npt.ArrayLike,
    batches: Callable[[int], Iterator[npt.NDArray[np.int64]]],
    *,
    batch_size: int,
    seed: int = 0,
) -> tf.data.Dataset:
    """`(x, labels)` batches of the positions `batches(seed)` yields, a fresh seed each pass
    (the first pass `seed` itself), so every epoch differs and runs reproduce."""
    gather = _Gather(content)
    codes = np.asarray(labels, dtype=np.int64)
    if len(codes) != len(gather):
        raise DataError(
            f"Expected one label per item. Received: items={len(gather)}, labels={len(codes)}"
        )
    passes = itertools.count()

    def positions_of_pass() -> Iterator[npt.NDArray[np.int64]]:
        yield from batches(_pass_seed(seed, next(passes)))

    positions = tf.data.Dataset.from_generator(
        positions_of_pass, output_signature=tf.TensorSpec(shape=(batch_size,), dtype=tf.int64)
    )
    label_tensor = tf.constant(codes)
    episodes = positions.map(
        lambda index: (gather(index), tf.gather(label_tensor, index)), num_parallel_calls=AUTOTUNE
    )
    return episodes.prefetch(AUTOTUNE)


def triplet_dataset(
    content: Content,
    triplets: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batch `(anchor, positive, negative)` positions from `make_triplets` as content triples.

    Returns:
        A dataset of `(a, p, n)` tuples of `(batch, ...)` tensors (or dicts), inputs only.
    """
    check_count("batch_size", batch_size, 1)
    gather = _Gather(content)
    for name, positions in zip(("anchor", "positive", "negative"), triplets, strict=True):
        gather.check(positions, name)
    rows = tf.data.Dataset.from_tensor_slices(tuple(np.asarray(t, np.int64) for t in triplets))
    rows = _order(rows, len(triplets[0]), shuffle=shuffle, seed=seed, repeat=repeat)
    batches = rows.batch(batch_size).map(
        lambda a, p, n: (gather(a), gather(p), gather(n)), num_parallel_calls=AUTOTUNE
    )
    return batches.prefetch(AUTOTUNE)


def encode_dataset(content: Content, *, batch_size: int) -> tf.data.Dataset:
    """Batch the content alone, in order, for `model.predict` or an encoder.

    Example:
        >>> embeddings = tower.predict(encode_dataset(items.content(), batch_size=256))
    """
    check_count("batch_size", batch_size, 1)
    gather = _Gather(content)
    rows = tf.data.Dataset.range(len(gather)).batch(batch_size)
    return rows.map(gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _pass_seed(seed: int, index: int) -> int:
    """Return `seed` for the first pass, then a seed derived from (seed, pass)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _order(
    rows: tf.data.Dataset, n: int, *, shuffle: bool, seed: int, repeat: bool
) -> tf.data.Dataset:
    if shuffle:
        rows = rows.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return rows.repeat() if repeat else rows


class _Gather:
    """Gathers rows of an array, or of each column of a dict, by a batch of positions."""

    def __init__(self, content: Content) -> None:
        if isinstance(content, Mapping):
            if not content:
                raise DataError("Expected content with at least one field. Received: an empty dict")
            self._columns = {name: np.asarray(column) for name, column in content.items()}
        else:
            self._columns = {"": np.asarray(content)}
        lengths = {name: len(column) for name, column in self._columns.items()}
        if len(set(lengths.values())) != 1:
            raise DataError(f"Expected fields of one length. Received: lengths={lengths}")
        self._is_dict = isinstance(content, Mapping)
        self._takers = {name: _taker(column) for name, column in self._columns.items()}

    def __len__(self) -> int:
        return len(next(iter(self._columns.values())))

    def __call__(self, index: tf.Tensor) -> tf.Tensor | dict[str, tf.Tensor]:
        taken = {name: take(index) for name, take in self._takers.items()}
        return taken if self._is_dict else taken[""]

    def check(self, positions: npt.ArrayLike, name: str) -> None:
        """Raise `DataError` unless every position is a row of the content."""
        values = np.asarray(positions)
        if values.size and (values.min() < 0 or values.max() >= len(self)):
            raise DataError(
                f"Expected {name} in [0, {len(self)}). "
                f"Received: min={values.min()}, max={values.max()}"
            )


def _taker(column: np.ndarray) -> Callable[[tf.Tensor], tf.Tensor]:
    if column.dtype.kind in "USO" or column.nbytes <= CONSTANT_LIMIT:
        tensor = tf.constant(column.astype(object) if column.dtype.kind == "U" else column)
        return lambda index: tf.gather(tensor, index)
    dtype = tf.as_dtype(column.dtype)
    tail = column.shape[1:]

    def take(index: tf.Tensor) -> tf.Tensor:
        rows = tf.numpy_function(lambda i: column[i], [index], dtype, stateful=False)
        rows.set_shape([None, *tail])
        return rows

    return take
