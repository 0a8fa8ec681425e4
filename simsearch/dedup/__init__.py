"""Duplicate detection over embedding arrays: pairs by k-NN self-join, groups, matches, files.

numpy and FAISS only, like `simsearch.index`: nothing here imports TensorFlow or Keras. The model
comes in as `score_pairs(u, v) -> (n,) float` P(same) on `(n, dim) float32` embedding rows, as
`Searcher` takes it (e.g. `SiameseModel.score_pairs`).

    pairs      DuplicatePairs (left_ids, right_ids, distances, scores), Pair
    join       find_duplicates (self-join of an index, or some of its items against it),
               match_catalogues (catalogue B's embeddings against the index of A)
    exact      exact_duplicates: exact blocked all-pairs (sentence-transformers' paraphrase_mining),
               the baseline and test oracle
    grouping   group_pairs (a group id per item), assign_groups (new items, existing ids kept)
    files      write_pairs, write_groups (atomic; .csv, .jsonl, .parquet), read_pairs, read_groups,
               read_links (true or found links, to score),
               check_output_path

Distances are the index's (lower = more similar): `1 - cos` for cosine, Euclidean for l2;
scores are probabilities (higher = more similar). A pair passes `max_distance` when
`distance <= max_distance` and `min_score` when `score >= min_score`.

Grouping defaults to average linkage within connected components, cut at the same threshold:
unlike connected components, it does not chain unrelated items through a path of pairs (see
`simsearch.dedup.grouping`). `"center"` (star clustering) and `"components"` are the others.

Example:
>>> from simsearch.dedup import find_duplicates, group_pairs, write_groups, write_pairs
>>> pairs = find_duplicates(index, k=10, max_distance=0.05)              # by distance
>>> pairs = find_duplicates(index, k=10, max_distance=0.2,
...                         score_pairs=model.score_pairs, min_score=0.9)  # re-scored by the head
>>> write_pairs(pairs, "out/pairs.parquet")
>>> groups = group_pairs(index.ids, pairs, min_score=0.9)
>>> write_groups(index.ids, groups, "out/groups.csv")

Incremental, after `index.add(xb_new, new_ids)`:
>>> old_ids, old_groups = read_groups("out/groups.csv")
>>> new_pairs = find_duplicates(index, max_distance=0.05, query_ids=new_ids)
>>> new_groups = assign_groups((old_ids, old_groups), new_ids, new_pairs, max_distance=0.05)

Catalogue B against the index of catalogue A (`left_id` from A, `right_id` from B):
>>> matches = match_catalogues(index_a, model.encode(items_b), ids_b, k=5, max_distance=0.1)
"""

from __future__ import annotations

from simsearch.dedup.exact import exact_duplicates
from simsearch.dedup.files import (
    FORMATS,
    GROUP_COLUMNS,
    PAIR_COLUMNS,
    check_output_path,
    read_groups,
    read_links,
    read_pairs,
    write_groups,
    write_pairs,
)
from simsearch.dedup.grouping import METHODS, assign_groups, group_pairs
from simsearch.dedup.join import DEDUP_PARAMS, find_duplicates, match_catalogues
from simsearch.dedup.one_to_one import ONE_TO_ONE, one_to_one
from simsearch.dedup.pairs import DuplicatePairs, Pair

__all__ = [
    "DEDUP_PARAMS",
    "FORMATS",
    "GROUP_COLUMNS",
    "METHODS",
    "ONE_TO_ONE",
    "PAIR_COLUMNS",
    "DuplicatePairs",
    "Pair",
    "assign_groups",
    "check_output_path",
    "exact_duplicates",
    "find_duplicates",
    "group_pairs",
    "match_catalogues",
    "one_to_one",
    "read_groups",
    "read_links",
    "read_pairs",
    "write_groups",
    "write_pairs",
]
