"""Nearest-neighbour queries over an index, re-ranked by the pairwise head or a cross-encoder.

numpy only here, with the index and the model passed in as objects and callables: nothing in this
package imports TensorFlow or Keras.

    query     Query: one search's settings (k or radius, re-ranking, FAISS settings, filter), validated
    where     Where: a metadata filter compiled from JSON ({"shop": "b", "price": {"$lt": 20}})
    searcher  Searcher: run a Query by vector or by catalogue id, re-ranking the top candidates
    hits      Hit: one neighbour (id, distance, re-ranker score, metadata)
    rerank    rerank: re-order a query's hits by a `ScorePairs` callable (the model's head);
              rerank_by: by a `ScoreHits` callable
    cross     CrossScorer: a cross-encoder as callables, scoring the query's and the hits' texts
    identify  decide, choose_threshold, enrol: open-set identification and its threshold

Example:
>>> from simsearch.search import Query, Searcher
>>> searcher = Searcher(index, score_pairs=model.score_pairs)
>>> hits = searcher.run(Query(k=5, rerank=50), vectors=model.encode(images))
"""

from simsearch.search.cross import CrossScorer
from simsearch.search.hits import Hit
from simsearch.search.query import MAX_K, Filter, Query
from simsearch.search.rerank import ScoreHits, ScorePairs, rerank, rerank_by
from simsearch.search.searcher import Searcher
from simsearch.search.where import Where

__all__ = [
    "MAX_K",
    "CrossScorer",
    "Filter",
    "Hit",
    "Query",
    "ScoreHits",
    "ScorePairs",
    "Searcher",
    "Where",
    "rerank",
    "rerank_by",
]
