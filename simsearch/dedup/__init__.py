"""Duplicate detection over embedding arrays: pairs by k-NN self-join, groups, matches, files.

numpy and FAISS only, like `simsearch.index`: nothing here imports TensorFlow or Keras. The model
comes in as a `PairScorer` inside a `PairFilter`: `EmbeddingScorer(model.score_pairs)` for the
pairwise head on `(n, dim) float32` embeddings, `IdScorer(...)` for a scorer that reads the items
by id (a cross-encoder).

    pair_filter  PairFilter (k, max_distance, min_score, scorer): what a kept pair passes
    scoring      PairScorer (the protocol), PairSide, EmbeddingScorer, IdScorer
    decision     Decision, choose_decision: which scorer keeps a pair, at which threshold, and why
    pairs        DuplicatePairs (left_ids, right_ids, distances, scores), Pair
    join         find_duplicates (self-join of an index, or some of its items against it),
                 match_catalogues (catalogue B's embeddings against the index of A)
    chunks       one chunk of a join and the merge of chunks: the step the Dask engine runs too
    exact        exact_duplicates: exact blocked all-pairs (sentence-transformers' paraphrase_mining),
                 the baseline and test oracle
    grouping     group_pairs (a group id per item), assign_groups (new items, existing ids kept)
    files        write_pairs, write_groups (atomic; .csv, .jsonl, .parquet), read_pairs, read_groups,
                 read_links (true or found links, to score), check_output_path
    checks       the settings' checks and IdLookup (catalogue positions of ids)

Distances are the index's (lower = more similar): `1 - cos` for cosine, Euclidean for l2;
scores are probabilities (higher = more similar). A pair passes `max_distance` when
`distance <= max_distance` and `min_score` when `score >= min_score`.

Grouping defaults to average linkage within connected components, cut at the same threshold:
unlike connected components, it does not chain unrelated items through a path of pairs (see
`simsearch.dedup.grouping`). `"center"` (star clustering) and `"components"` are the others.

Example:
>>> from simsearch.dedup import EmbeddingScorer, PairFilter, find_duplicates, group_pairs
>>> pairs = find_duplicates(index, PairFilter(k=10, max_distance=0.05))    # by distance
>>> head = EmbeddingScorer(model.score_pairs)
>>> pairs = find_duplicates(index, PairFilter(k=10, max_distance=0.2,
...                                           min_score=0.9, scorer=head))  # re-scored by the head
>>> write_pairs(pairs, "out/pairs.parquet")
>>> groups = group_pairs(index.ids, pairs, min_score=0.9)
>>> write_groups(index.ids, groups, "out/groups.csv")

Incremental, after `index.add(xb_new, new_ids)`:
>>> old_ids, old_groups = read_groups("out/groups.csv")
>>> new_pairs = find_duplicates(index, PairFilter(max_distance=0.05), query_ids=new_ids)
>>> new_groups = assign_groups((old_ids, old_groups), new_ids, new_pairs, max_distance=0.05)

Catalogue B against the index of catalogue A (`left_id` from A, `right_id` from B):
>>> xq = model.encode(items_b)
>>> matches = match_catalogues(index_a, xq, ids_b, PairFilter(k=5, max_distance=0.1))
"""

from __future__ import annotations

from simsearch.dedup.chunks import DEDUP_PARAMS
from simsearch.dedup.decision import Decision, choose_decision, head_decides
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
from simsearch.dedup.join import find_duplicates, match_catalogues
from simsearch.dedup.one_to_one import ONE_TO_ONE, one_to_one
from simsearch.dedup.pair_filter import PairFilter
from simsearch.dedup.pairs import DuplicatePairs, Pair
from simsearch.dedup.scoring import EmbeddingScorer, IdScorer, PairScorer, PairSide

__all__ = [
    "DEDUP_PARAMS",
    "FORMATS",
    "GROUP_COLUMNS",
    "METHODS",
    "ONE_TO_ONE",
    "PAIR_COLUMNS",
    "Decision",
    "DuplicatePairs",
    "EmbeddingScorer",
    "IdScorer",
    "Pair",
    "PairFilter",
    "PairScorer",
    "PairSide",
    "assign_groups",
    "check_output_path",
    "choose_decision",
    "exact_duplicates",
    "find_duplicates",
    "group_pairs",
    "head_decides",
    "match_catalogues",
    "one_to_one",
    "read_groups",
    "read_links",
    "read_pairs",
    "write_groups",
    "write_pairs",
]
