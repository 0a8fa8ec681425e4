"""Data: load items, draw pairs, triplets and P×K batches, split by class.

Importing `simsearch.data` does not import TensorFlow; the tf.data pipelines live in
`simsearch.data.pipeline`, imported on its own.
"""

from __future__ import annotations

from simsearch.data.arrays import load_arrays, load_npz
from simsearch.data.image_folder import load_image_folder
from simsearch.data.items import Items, Kind
from simsearch.data.loaders import (
    load_image_catalog,
    load_items,
    load_pairs,
    load_table,
)
from simsearch.data.pairs import Pairs, make_pairs, split_by_class, split_by_group
from simsearch.data.triplets import class_balanced_batches, make_triplets

__all__ = [
    "Items",
    "Kind",
    "Pairs",
    "class_balanced_batches",
    "load_arrays",
    "load_image_catalog",
    "load_image_folder",
    "load_items",
    "load_npz",
    "load_pairs",
    "load_table",
    "make_pairs",
    "make_triplets",
    "split_by_class",
    "split_by_group",
]
