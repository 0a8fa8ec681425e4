"""Nearest-neighbour queries over an index, re-ranked by the pairwise head.

numpy only here, with the index and the model passed in as objects and callables: nothing in this
package imports TensorFlow or Keras.

    hits      Hit: one neighbour (id, distance, head score, metadata)
    rerank    rerank: re-order a query's hits by a `ScorePairs` callable (the model's head);
              rerank_by: by a `ScoreHits` callable (a cross-encoder over the stored texts)
    searcher  Searcher: search by vector or by catalogue id, re-ranking the top candidates

Example:
>>> from simsearch.search import Searcher
>>> searcher = Searcher(index, score_pairs=model.score_pairs)
>>> hits = searcher.search(model.encode(images), k=5, rerank=50)
"""

from simsearch.search.hits import Hit
from simsearch.search.rerank import ScoreHits, ScorePairs, rerank, rerank_by
from simsearch.search.searcher import Searcher

__all__ = ["Hit", "ScoreHits", "ScorePairs", "Searcher", "rerank", "rerank_by"]
