"""The review and labelling page: candidate pairs (a `dedup` or `match` output) shown one at a
time, least certain first, with both items' stored fields (and images, for an image catalogue)
side by side; keys `s` same, `d` different, `u` unsure, `z` undo. Labels go to a `LabelLog`
(durable JSON lines); `/review/export` gives them as the `left_id,right_id,label` pair file
`simsearch train --pairs` reads.

    GET  /review          the page
    GET  /review/next     the next unlabelled pair, its items and the progress
    POST /review/label    {"left_id", "right_id", "label": "same" | "different" | "unsure"}
    POST /review/undo     take back the latest label
    GET  /review/export   the labels as a pair file (CSV)
    GET  /review/info     what this review serves: item kind, images, groups, retraining

Labels are taken only for the pairs of the file (404 for any other), and the writes (label,
undo, and the groups view's marks) need `X-API-Key` when the server has a key (`access.py`).

The rest of the review is in its own modules, mounted with this one (`routers()`): the duplicate
groups view (`groups.py`), the catalogue's images (`images.py`) and retraining (`retrain.py`);
items are shown as `review_items.item_view` gives them, in the pairs and the groups alike.

Uncertainty: each pair's calibrated probability of being the same item, on the candidates' own
distribution (`evaluation.uncertainty`: the model's held-out curve of the head's probability for
re-scored pairs, else of the distance, with the share of same pairs re-estimated on the
candidates); the pairs nearest 0.5, where the model is least sure, come first. A model that
stores no curve falls back to the distance of each pair's score (or distance) from its threshold.

Each pair comes with its explanation (`search.explain`, text and record models, both items in
the index): per field whether it agrees, its similarity alone and how much it moved the decision,
which the page highlights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError, UnknownIdError
from simsearch.server.access import require_labeller
from simsearch.server.labels import LabelLog
from simsearch.server.pages import page_html
from simsearch.server.review_items import item_view
from simsearch.server.schemas import LabelRequest, error_responses
from simsearch.tower_kinds import tower_kind

if TYPE_CHECKING:
    from simsearch.server.groups import ReviewGroups
    from simsearch.server.images import ImageSource
    from simsearch.server.retrain import RetrainJob

__all__ = [
    "BODY_ERRORS",
    "WRITE_ERRORS",
    "CsvResponse",
    "ReviewQueue",
    "open_review",
    "router",
    "routers",
]

router = APIRouter(prefix="/review", tags=["review"])

WRITE_ERRORS = {
    401: "Missing or wrong X-API-Key (a server with a key)",
    413: "Body too large",
    415: "Not application/json",
}
BODY_ERRORS = {
    **WRITE_ERRORS,
    400: "A body that cannot be parsed (JSON nested too deep)",
    422: "Not the request schema",
}


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


class ReviewQueue:
    """Candidate pairs in order of uncertainty, with their labels.

    Args:
        pairs: the candidates (`read_pairs` of a dedup or match output).
        log: where labels are written.
        threshold: the model's `{"probability", "distance"}` thresholds.
        curves: the model's held-out curves (`SiameseModel.calibration`), which calibrate the
            pairs' probabilities.
        images: the catalogue's images, for an image index served with its catalogue.
        groups: the duplicate groups view's groups; `groups_error` says why there are none.
        retrain: the retraining job, when the catalogue can be retrained from pair labels.
        allow_retrain: start retraining without an API key (`serve --allow-retrain`); a server
            with a key retrains for requests that send it.
    """

    def __init__(
        self,
        pairs: DuplicatePairs,
        log: LabelLog,
        threshold: dict[str, Any],
        *,
        curves: Mapping[str, Any] | None = None,
        images: ImageSource | None = None,
        groups: ReviewGroups | None = None,
        groups_error: str | None = None,
        retrain: RetrainJob | None = None,
        allow_retrain: bool = False,
    ) -> None:
        self.pairs = pairs
        self.log = log
        self.images = images
        self.groups = groups
        self.groups_error = groups_error
        self.retrain = retrain
        self.allow_retrain = allow_retrain
        threshold_margin = _threshold_margin(pairs, threshold)
        self.probabilities, self.prior, self.ordered_by = _probabilities(pairs, curves or {})
        if self.probabilities is None:
            self.margins = threshold_margin
            self.order = np.argsort(threshold_margin, kind="stable").tolist()
        else:
            self.margins = np.abs(self.probabilities - 0.5)
            self.order = np.lexsort((threshold_margin, self.margins)).tolist()
        self.explanations: dict[int, dict[str, Any] | None] = {}
        self.keys = list(zip(pairs.left_ids.tolist(), pairs.right_ids.tolist(), strict=True))
        self.rows = {key: row for row, key in enumerate(self.keys)}

    def explain(
        self, model: Any, row: int, left: dict[str, Any], right: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Why the model judged the pair of `row` as it did (`Explanation.as_dict` with its
        `lines`), kept once made; None for an image model or an item not in the index."""
        if row in self.explanations:
            return self.explanations[row]
        if left["fields"] is None or right["fields"] is None or tower_kind(model.kind).is_image:
            return None
        head = self.pairs.scores is not None
        cut = model.threshold.get("probability" if head else "distance")
        value = float(self.pairs.scores[row] if self.pairs.scores is not None else self.pairs.distances[row])
        same = None if cut is None else value >= cut if head else value <= cut
        (explanation,) = model.explain_pairs([left["fields"]], [right["fields"]], same=same, head=head)
        self.explanations[row] = {**explanation.as_dict(), "same": same, "lines": explanation.lines()}
        return self.explanations[row]

    def offered(self, left_id: Any, right_id: Any) -> tuple[Any, Any]:
        """The candidate pair of these ids, in the file's order; `UnknownIdError` for any other."""
        for key in ((left_id, right_id), (right_id, left_id)):
            if key in self.rows:
                return key
        raise UnknownIdError(
            f"Expected a candidate pair of the review (GET /review/next). Received: {left_id!r}, {right_id!r}"
        )

    def next(self) -> int | None:
        """The row of the least certain pair not labelled yet (None when all are)."""
        labelled = self.log.labels
        return next((row for row in self.order if self.keys[row] not in labelled), None)

    def progress(self) -> dict[str, int]:
        labelled = self.log.labels
        return {"labelled": sum(key in labelled for key in self.keys), "total": len(self.keys)}


def _threshold_margin(pairs: DuplicatePairs, threshold: Mapping[str, Any]) -> np.ndarray:
    """Each pair's score from the probability threshold (0.5 without one), or its distance from
    the distance threshold (the median without one) when the pairs were not re-scored."""
    if pairs.scores is not None:
        cut = threshold.get("probability")
        return np.abs(pairs.scores - (0.5 if cut is None else float(cut)))
    cut = threshold.get("distance")
    middle = float(np.median(pairs.distances)) if cut is None else float(cut)
    return np.abs(pairs.distances - middle)


def _probabilities(
    pairs: DuplicatePairs, curves: Mapping[str, Any]
) -> tuple[np.ndarray | None, float | None, str]:
    """The pairs' calibrated probabilities, the share of same pairs among them and how they were
    had; None without a stored curve of the pairs' scorer."""
    from simsearch.evaluation.uncertainty import candidate_probabilities

    if len(pairs) == 0:
        return None, None, "no pairs"
    far = curves.get("far") or {}
    counts = None
    if pairs.scores is not None and curves.get("probability"):
        values, curve, kind, what = pairs.scores, curves["probability"], "precision", "the head's probability"
    elif pairs.scores is None and curves.get("distance"):
        values, curve, kind, what = pairs.distances, curves["distance"], "precision", "the distance"
    elif pairs.scores is None and far.get("rows"):
        values, curve, kind, what = pairs.distances, far["rows"], "far", "the distance (false-accept curve)"
        counts = (float(far.get("n_genuine", len(curve))), float(far.get("n_impostor", len(curve))))
    else:
        return None, None, "distance to the threshold (the model stores no held-out curve for these pairs)"
    probabilities, prior = candidate_probabilities(values, curve, kind=kind, counts=counts)  # type: ignore[arg-type]
    how = (
        f"calibrated probability nearest 0.5: {what} on held-out pairs, "
        f"{prior:.0%} of these candidates estimated the same"
    )
    return probabilities, prior, how


def open_review(
    engine: Any,
    pairs: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    groups: str | os.PathLike[str] | None = None,
    catalogs: Sequence[str | os.PathLike[str]] = (),
    retrain_dir: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    allow_retrain: bool = False,
) -> ReviewQueue:
    """The review of a pairs file (`read_pairs`) over a loaded `SearchEngine`, with its groups,
    images and retraining, as `simsearch serve --review` starts it.

    Args:
        engine: the served engine (its index, model and model directory).
        pairs: the candidate pairs (a `dedup` or `match` output).
        labels: the labels' JSON-lines file (default: `PAIRS.labels.jsonl` beside the pairs).
        groups: a `dedup --groups` file (default: the pairs grouped by average linkage).
        catalogs: the catalogue(s) the index was built from: an image folder, `.zip` or `.npz`
            (its images are shown) or the table(s) retraining reads.
        retrain_dir: where retraining runs go (default: `LABELS.retrain/` beside the labels).
        index_dir: the served index, to name the retrained model's index in the next steps.
        allow_retrain: start retraining without an API key (`serve --allow-retrain`).

    Example:
    >>> review = open_review(SearchEngine.load("indexes/p"), "pairs.csv", catalogs=["items.csv"])
    >>> app = create_app(IndexService(engine, ServerConfig()), review)
    """
    from simsearch.dedup import read_groups, read_pairs
    from simsearch.server.groups import ReviewGroups, groups_from_pairs
    from simsearch.server.retrain import RetrainJob

    pairs = Path(pairs)
    labels = Path(labels) if labels is not None else pairs.with_name(f"{pairs.stem}.labels.jsonl")
    log = LabelLog(labels)
    model = engine.model
    queue = ReviewQueue(
        read_pairs(pairs), log, model.threshold, curves=model.calibration, allow_retrain=allow_retrain
    )
    try:
        ids, numbers = read_groups(groups) if groups else groups_from_pairs(queue.pairs, engine.index.ids)
        queue.groups = ReviewGroups(ids, numbers, queue.pairs, queue.margins, log)
    except ConfigError as exc:
        queue.groups_error = str(exc)
    if catalogs and tower_kind(engine.model.kind).is_image:
        from simsearch.server.images import open_images

        queue.images = open_images(catalogs[0], engine.index)
    root = Path(retrain_dir) if retrain_dir is not None else labels.with_name(f"{labels.stem}.retrain")
    queue.retrain = RetrainJob(
        root,
        engine.model.config,
        [Path(c) for c in catalogs],
        engine.model_dir,
        None if index_dir is None else Path(index_dir),
    )
    return queue


def _queue(request: Request) -> ReviewQueue:
    return request.app.state.review


@router.get("", include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(page_html("review.html"))


@router.get("/next")
def next_pair(request: Request) -> dict[str, Any]:
    """The next pair to label (null when none is left), both items' stored fields, the progress."""
    queue = _queue(request)
    row = queue.next()
    if row is None:
        return {"pair": None, "progress": queue.progress()}
    pairs = queue.pairs
    left, right = (item_view(request, item_id) for item_id in queue.keys[row])
    probability = None if queue.probabilities is None else float(queue.probabilities[row])
    return {
        "pair": {
            "left_id": left["id"],
            "right_id": right["id"],
            "distance": float(pairs.distances[row]),
            "score": None if pairs.scores is None else float(pairs.scores[row]),
            "probability": probability,
            "explain": queue.explain(request.app.state.service.engine.model, row, left, right),
            "left": left["fields"],
            "right": right["fields"],
            "left_image": left["image"],
            "right_image": right["image"],
        },
        "progress": queue.progress(),
    }


@router.get("/info")
def info(request: Request) -> dict[str, Any]:
    """What this review serves: the item kind, whether images, groups and retraining are on."""
    queue = _queue(request)
    kind = request.app.state.service.engine.model.kind
    keyed = request.app.state.service.config.api_key is not None
    image_kind = tower_kind(kind).is_image
    return {
        "kind": kind,
        "images": queue.images is not None,
        "images_note": (
            "start serve with --catalog (the image folder the index was built from) to see the images"
            if image_kind and queue.images is None
            else None
        ),
        "groups": None if queue.groups is None else len(queue.groups),
        "groups_note": queue.groups_error,
        "retrain": queue.retrain is not None,
        "retrain_note": (
            None
            if keyed or queue.allow_retrain
            else "start serve with --api-key or --allow-retrain to retrain from this page"
        ),
        "api_key": keyed,
        "order": queue.ordered_by,
        "progress": queue.progress(),
    }


@router.post(
    "/label",
    dependencies=[Depends(require_labeller)],
    responses=error_responses({**BODY_ERRORS, 404: "Not a candidate pair of the review"}),
)
def label(body: LabelRequest, request: Request) -> dict[str, Any]:
    """Record a label of a pair the review offered (on disk when this returns)."""
    queue = _queue(request)
    queue.log.add(*queue.offered(body.left_id, body.right_id), body.label)
    return {"progress": queue.progress()}


@router.post("/undo", dependencies=[Depends(require_labeller)], responses=error_responses(WRITE_ERRORS))
def undo(request: Request) -> dict[str, Any]:
    """Take back the latest label."""
    queue = _queue(request)
    taken = queue.log.undo()
    return {"undone": None if taken is None else list(taken), "progress": queue.progress()}


@router.get("/export", response_class=CsvResponse)
def export(request: Request) -> CsvResponse:
    """The same/different labels as `left_id,right_id,label` (1 same, 0 different)."""
    return CsvResponse(
        _queue(request).log.export(),
        headers={"Content-Disposition": 'attachment; filename="labels.csv"'},
    )


def routers() -> list[APIRouter]:
    """The review's routes: pairs (this module), groups, images and retraining."""
    from simsearch.server import groups, images, retrain

    return [router, groups.router, images.router, retrain.router]
