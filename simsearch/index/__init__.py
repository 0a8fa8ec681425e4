"""FAISS indexes over catalogue embeddings, their HDF5 item store and index directories.

numpy, faiss and h5py only: nothing here imports TensorFlow or Keras.

    config        IndexConfig (build settings), SearchParams (query settings), Neighbors and Found (results)
    faiss_index   FaissIndex: build, add, upsert, delete, compact, search, range_search, get
    h5_store      H5Store: items.h5 (embeddings, ids, JSON metadata)
    fields        Fields: the metadata as columns, for metadata filters
    allowed       Allowed: the rows a filter allows, and how a filtered search runs
    directory     save_index / load_index / read_manifest: indexes/<name>/, atomic
    journal       Journal: write-ahead log of updates (journal.wal), replayed by load_index
    lock          WriterLock: one writer of an index directory at a time (.<name>.lock beside it)
    synthetic     make_synthetic: seeded clustered embeddings for tests and benchmarks
    checks        check_embeddings, check_ids, ...: the input checks, shared with dedup and
                  distributed
    faiss_ops     thin helpers over the FAISS API (factory, training, search parameters),
                  shared with the Dask build

Example:
>>> from simsearch.index import FaissIndex, IndexConfig, load_index, save_index
>>> index = FaissIndex(IndexConfig(metric="cosine")).build(embeddings, ids)
>>> distances, found = index.search(queries, k=10)
>>> save_index("indexes/catalogue", index, {"model": "models/omniglot"})
"""

from __future__ import annotations

from simsearch.index.config import METRICS, Found, IndexConfig, Neighbors, SearchParams
from simsearch.index.directory import load_index, read_manifest, recover_index, save_index
from simsearch.index.faiss_index import FaissIndex
from simsearch.index.faiss_ops import default_factory
from simsearch.index.h5_store import FORMAT_VERSION, H5Store, StoredItems
from simsearch.index.journal import Journal, JournalRecord, apply_record, read_journal
from simsearch.index.lock import WriterLock, held_here
from simsearch.index.synthetic import make_synthetic

__all__ = [
    "FORMAT_VERSION",
    "METRICS",
    "FaissIndex",
    "Found",
    "H5Store",
    "IndexConfig",
    "Journal",
    "JournalRecord",
    "Neighbors",
    "SearchParams",
    "StoredItems",
    "WriterLock",
    "apply_record",
    "default_factory",
    "held_here",
    "load_index",
    "make_synthetic",
    "read_journal",
    "read_manifest",
    "recover_index",
    "save_index",
]
