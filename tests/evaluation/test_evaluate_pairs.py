"""`evaluate_pairs`' graded-similarity and pair-retrieval sections against direct numpy."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data.pairs import Pairs
from simsearch.evaluation.correlation import spearman
from simsearch.evaluation.evaluate import evaluate_pairs


def test_graded_and_retrieval_sections() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 6)).astype(np.float32)
    left, right = np.arange(20), np.arange(20, 40)
    emb[right[:10]] = emb[left[:10]] + rng.normal(scale=0.3, size=(10, 6))
    same = (np.arange(20) < 10).astype(np.int8)
    graded = rng.uniform(0, 5, 20) + 3 * same
    result = evaluate_pairs(
        emb, emb, Pairs(left, right, same), graded=graded, ks=(1, 5), threshold={"distance": 0.5}
    )
    u, v = emb[left], emb[right]
    cos = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    assert result.report["graded similarity"]["spearman (tower)"] == pytest.approx(
        spearman(cos, graded), abs=1e-6
    )
    retrieval = result.report["pair retrieval"]
    assert retrieval["n_queries"] == 20  # both sides of the 10 positive pairs
    assert 0.0 < retrieval["recall@1"] <= retrieval["recall@5"] <= 1.0


def test_graded_length_must_match() -> None:
    emb = np.eye(4, dtype=np.float32)
    pairs = Pairs(np.array([0, 1]), np.array([2, 3]), np.array([1, 0], dtype=np.int8))
    with pytest.raises(Exception, match=r"graded scores of shape \(2,\)"):
        evaluate_pairs(emb, emb, pairs, graded=[1.0, 2.0, 3.0], threshold={"distance": 0.5})
