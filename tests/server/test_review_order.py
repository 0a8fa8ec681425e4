"""The review's order (least certain first, by the calibrated probability of the candidates) and
its explanations: `ReviewQueue` on hand-made curves whose probabilities are known, and
`/review/next` over the record index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simsearch.dedup import DuplicatePairs, write_pairs
from simsearch.evaluation.metrics import far_curve, precision_curve
from simsearch.server.labels import LabelLog
from simsearch.server.review import ReviewQueue
from tests.conftest import RecordIndex

# Held-out pairs (seeded): same ones at distances spread over 0.05-0.35, different ones over
# 0.25-0.55; where they overlap, around 0.3, the two classes are as likely.
_RNG = np.random.default_rng(0)
HELD_SAME = np.repeat([1, 0], 400)
HELD_DISTANCES = np.concatenate([_RNG.uniform(0.05, 0.35, 400), _RNG.uniform(0.25, 0.55, 400)]).astype(
    np.float32
)
DISTANCE_CURVE = [[-t, p, r] for t, p, r in precision_curve(HELD_SAME, -HELD_DISTANCES)]
# Candidates: at 0.43, just within a best-F1 threshold of 0.43 and all but surely different, and
# at 0.3, where the classes meet. By EM the candidates' share of same pairs p solves
# p = (1 + p) / 4 (one sure pair, one at p, two sure negatives): 1/3, the 0.3 pair's probability.
CANDIDATES = DuplicatePairs(np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8]), np.array([0.43, 0.3, 0.05, 0.8]))


def _queue(
    tmp_path: Path, pairs: DuplicatePairs, curves: dict[str, Any] | None, **threshold: float
) -> ReviewQueue:
    return ReviewQueue(pairs, LabelLog(tmp_path / "labels.jsonl"), threshold, curves=curves)


def test_the_least_certain_pair_is_the_one_nearest_probability_half(tmp_path: Path) -> None:
    queue = _queue(tmp_path, CANDIDATES, {"distance": DISTANCE_CURVE}, distance=0.43)
    assert queue.probabilities is not None
    assert queue.probabilities.tolist() == pytest.approx([0.0, 1 / 3, 1.0, 0.0], abs=0.1)
    assert queue.prior == pytest.approx(1 / 3, abs=0.1)
    assert queue.order[0] == 1  # not the pair at the threshold, all but surely different
    assert queue.order[-1] == 3
    assert "% of these candidates estimated the same" in queue.ordered_by


def test_without_a_stored_curve_the_threshold_orders_as_before(tmp_path: Path) -> None:
    queue = _queue(tmp_path, CANDIDATES, {}, distance=0.43)
    assert queue.probabilities is None
    assert queue.order[0] == 0  # the pair at the threshold
    assert queue.ordered_by.startswith("distance to the threshold")


def test_a_face_model_orders_by_its_false_accept_curve(tmp_path: Path) -> None:
    far = far_curve(HELD_SAME, HELD_DISTANCES)
    queue = _queue(tmp_path, CANDIDATES, {"far": far}, distance=0.43)
    assert queue.probabilities is not None
    assert queue.order[0] == 1
    assert queue.probabilities[0] < 0.05 and queue.probabilities[2] > 0.95


def test_re_scored_pairs_order_by_the_head_curve(tmp_path: Path) -> None:
    scores = 1 - HELD_DISTANCES
    curve = precision_curve(HELD_SAME, scores)
    pairs = DuplicatePairs(
        CANDIDATES.left_ids, CANDIDATES.right_ids, CANDIDATES.distances, 1 - CANDIDATES.distances
    )
    queue = _queue(tmp_path, pairs, {"probability": curve, "distance": DISTANCE_CURVE}, probability=0.57)
    assert queue.order[0] == 1
    assert "the head's probability" in queue.ordered_by


@pytest.fixture()
def client(record_index: RecordIndex, tmp_path: Path) -> Iterator[TestClient]:
    from simsearch.engine import SearchEngine
    from simsearch.server import IndexService, ServerConfig, create_app
    from simsearch.server.review import open_review

    engine = SearchEngine.load(record_index.index_dir)
    # the record index's TVs (1, 2) and the turntable against a TV (0, 1)
    pairs = write_pairs(
        DuplicatePairs(np.array([1, 0]), np.array([2, 1]), np.array([0.05, 0.29])), tmp_path / "p.csv"
    )
    with TestClient(create_app(IndexService(engine, ServerConfig()), open_review(engine, pairs))) as client:
        yield client


def test_next_pair_comes_with_its_explanation(client: TestClient) -> None:
    pair = client.get("/review/next").json()["pair"]
    assert (pair["left_id"], pair["right_id"]) == (0, 1)  # at 0.29, nearest the threshold 0.3
    assert pair["probability"] is None  # the tiny model stores no curve
    why = pair["explain"]
    assert why["by"] == "distance" and why["same"] is True
    assert {f["field"] for f in why["fields"]} == {"name", "price"}
    name = next(f for f in why["fields"] if f["field"] == "name")  # "sony turntable" / "sony tv 40 inch"
    assert name["state"] == "differs" and any(line.startswith("name differs") for line in why["lines"])
    assert "order" in client.get("/review/info").json()
