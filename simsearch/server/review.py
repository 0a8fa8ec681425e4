"""The review and labelling page: candidate pairs (a `dedup` or `match` output) shown one at a
time, least certain first, with both items' stored fields side by side; keys `s` same, `d`
different, `u` unsure, `z` undo. Labels go to a `LabelLog` (durable JSON lines); `/review/export`
gives them as the `left_id,right_id,label` pair file `simsearch train --pairs` reads.

    GET  /review          the page
    GET  /review/next     the next unlabelled pair, its items and the progress
    POST /review/label    {"left_id", "right_id", "label": "same" | "different" | "unsure"}
    POST /review/undo     take back the latest label
    GET  /review/export   the labels as a pair file (CSV)

Uncertainty: the distance of each pair's score from the model's calibrated probability threshold
(0.5 without one), or of its distance from the distance threshold when the pairs were not
re-scored; the pairs nearest the threshold, where the model is least sure, come first.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel

from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import UnknownIdError
from simsearch.server.labels import LabelLog

__all__ = ["ReviewQueue", "router"]

router = APIRouter(prefix="/review", tags=["review"])


class ReviewQueue:
    """Candidate pairs in order of uncertainty, with their labels.

    Args:
        pairs: the candidates (`read_pairs` of a dedup or match output).
        log: where labels are written.
        threshold: the model's `{"probability", "distance"}` thresholds.
    """

    def __init__(self, pairs: DuplicatePairs, log: LabelLog, threshold: dict[str, Any]) -> None:
        self.pairs = pairs
        self.log = log
        if pairs.scores is not None:
            cut = threshold.get("probability")
            margin = np.abs(pairs.scores - (0.5 if cut is None else float(cut)))
        else:
            cut = threshold.get("distance")
            middle = float(np.median(pairs.distances)) if cut is None else float(cut)
            margin = np.abs(pairs.distances - middle)
        self.order = np.argsort(margin, kind="stable").tolist()
        self.keys = list(zip(pairs.left_ids.tolist(), pairs.right_ids.tolist(), strict=True))

    def next(self) -> int | None:
        """The row of the least certain pair not labelled yet (None when all are)."""
        labelled = self.log.labels
        return next((row for row in self.order if self.keys[row] not in labelled), None)

    def progress(self) -> dict[str, int]:
        labelled = self.log.labels
        return {"labelled": sum(key in labelled for key in self.keys), "total": len(self.keys)}


class LabelRequest(BaseModel):
    left_id: int | str
    right_id: int | str
    label: str


def _queue(request: Request) -> ReviewQueue:
    return request.app.state.review


@router.get("", include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((files("simsearch.server") / "review.html").read_text())


@router.get("/next")
def next_pair(request: Request) -> dict[str, Any]:
    """The next pair to label (null when none is left), both items' stored fields, the progress."""
    queue = _queue(request)
    row = queue.next()
    if row is None:
        return {"pair": None, "progress": queue.progress()}
    pairs = queue.pairs
    left, right = queue.keys[row]
    index = request.app.state.service.engine.index
    return {
        "pair": {
            "left_id": left,
            "right_id": right,
            "distance": float(pairs.distances[row]),
            "score": None if pairs.scores is None else float(pairs.scores[row]),
            "left": _metadata(index, left),
            "right": _metadata(index, right),
        },
        "progress": queue.progress(),
    }


@router.post("/label")
def label(body: LabelRequest, request: Request) -> dict[str, Any]:
    """Record a label (on disk when this returns)."""
    queue = _queue(request)
    queue.log.add(body.left_id, body.right_id, body.label)
    return {"progress": queue.progress()}


@router.post("/undo")
def undo(request: Request) -> dict[str, Any]:
    """Take back the latest label."""
    queue = _queue(request)
    taken = queue.log.undo()
    return {"undone": None if taken is None else list(taken), "progress": queue.progress()}


@router.get("/export", response_class=PlainTextResponse)
def export(request: Request) -> PlainTextResponse:
    """The same/different labels as `left_id,right_id,label` (1 same, 0 different)."""
    return PlainTextResponse(
        _queue(request).log.export(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="labels.csv"'},
    )


def _metadata(index: Any, item_id: Any) -> dict[str, Any] | None:
    """An item's stored fields; None for an id not in the index (the B side of a match)."""
    try:
        return dict(index.metadata([item_id])[0] or {})
    except UnknownIdError:
        return None
