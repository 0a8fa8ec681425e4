"""The duplicate groups view: groups of two or more items, largest or least certain first, a page
at a time, each member's stored fields (or image) beside the others; a member marked as not
belonging is written to the review's `LabelLog` as a `different` label against its group's
centre (and marked back as `same`), so the groups' corrections train like the pairs' labels.

    GET  /review/groups                   the page
    GET  /review/groups/list              a page of groups: ?offset=0&limit=10&order=size|uncertain
    GET  /review/groups/{group}           a page of one group's members: ?offset=0&limit=50
    POST /review/groups/member            {"group", "id", "belongs": false | true}

Groups come from `simsearch dedup --groups` (`serve --groups FILE`), else from the review's own
pairs (`group_pairs`, average linkage cut at the loosest of the pairs). A group's centre is the
member with the most pairs inside it (the first in the file's order on a tie); its uncertainty is
the smallest margin to the model's threshold among those pairs, as the pair queue orders them.
Only the page asked for is sent: a catalogue of a million items stays on the server.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError, DataError, UnknownIdError
from simsearch.server.access import require_labeller
from simsearch.server.labels import LabelLog
from simsearch.server.pages import page_html
from simsearch.server.review_items import item_view
from simsearch.server.schemas import MemberRequest, error_responses

__all__ = ["ORDERS", "ReviewGroups", "groups_from_pairs", "router"]

router = APIRouter(prefix="/review", tags=["review"])

ORDERS = ("size", "uncertain")
MAX_GROUPS_PER_PAGE = 50
MAX_MEMBERS_PER_PAGE = 200


class ReviewGroups:
    """Duplicate groups of two or more items, with their centres and uncertainty.

    Args:
        ids: `(n,)` item ids (a groups file's `id` column, or the index's ids).
        groups: `(n,) int` group of each item; groups of one item are left out.
        pairs: the review's candidate pairs, for centres and uncertainty.
        margins: `(len(pairs),)` each pair's uncertainty (`ReviewQueue.margins`: its calibrated
            probability's distance from 0.5, or its distance to the threshold; small = unsure).
        log: where members marked as not belonging are written.
    """

    def __init__(
        self,
        ids: npt.ArrayLike,
        groups: npt.ArrayLike,
        pairs: DuplicatePairs,
        margins: npt.NDArray[np.floating[Any]],
        log: LabelLog,
    ) -> None:
        ids, groups = np.asarray(ids), np.asarray(groups, np.int64)
        if ids.shape != groups.shape:
            raise DataError(f"Expected one group per id. Received: ids {ids.shape}, groups {groups.shape}")
        self.log = log
        order = np.argsort(groups, kind="stable")  # members keep the file's order inside a group
        numbers, starts, sizes = np.unique(groups[order], return_index=True, return_counts=True)
        kept = sizes >= 2
        self.numbers = numbers[kept]
        self.members = [ids[order[s : s + n]] for s, n in zip(starts[kept], sizes[kept], strict=True)]
        self.position = {int(g): i for i, g in enumerate(self.numbers.tolist())}
        self.centres, self.margins = _centres_and_margins(self.members, pairs, margins)

    def __len__(self) -> int:
        return len(self.members)

    def ranked(self, order: str) -> list[int]:
        """Positions of the groups, largest first (`"size"`) or least certain first (`"uncertain"`)."""
        if order not in ORDERS:
            raise ConfigError(f"Expected order in {list(ORDERS)}. Received: {order!r}")
        sizes = -np.array([len(m) for m in self.members], np.int64)
        keys = (sizes, self.margins) if order == "uncertain" else (np.arange(len(sizes)), sizes)
        return np.lexsort(keys).tolist()

    def find(self, group: int) -> int:
        """The position of group number `group`; `UnknownIdError` for a group not shown."""
        if group not in self.position:
            raise UnknownIdError(f"Expected a group of two or more items. Received: group {group}")
        return self.position[group]

    def mark(self, group: int, item_id: Any, belongs: bool) -> str:
        """Write the member's label against its group's centre; returns the label written."""
        at = self.find(group)
        centre = self.centres[at]
        if item_id == centre:
            raise DataError(f"Expected a member other than the group's centre. Received: {item_id!r}")
        if item_id not in self.members[at].tolist():
            raise UnknownIdError(f"Expected a member of group {group}. Received: {item_id!r}")
        label = "same" if belongs else "different"
        self.log.add(centre, item_id, label)
        return label

    def label(self, at: int, item_id: Any, labels: dict[tuple[Any, Any], str]) -> str | None:
        """The member's current label against its centre (either order), None when unlabelled."""
        centre = self.centres[at]
        return labels.get((centre, item_id), labels.get((item_id, centre)))


def groups_from_pairs(
    pairs: DuplicatePairs, index_ids: Any
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Group the review's pairs themselves: average linkage, cut at the loosest of the pairs (every
    pair passed the threshold they were found with). `(ids, groups)` of the items in the pairs."""
    from simsearch.dedup import group_pairs

    ids = np.unique(np.concatenate([pairs.left_ids, pairs.right_ids]))
    if not np.isin(ids, index_ids).all():
        raise ConfigError(
            "Expected pairs within the served catalogue to group them (a dedup output), or "
            "--groups FILE. Received: pairs with ids outside the index (a match output?)"
        )
    if pairs.scores is not None:
        return ids, group_pairs(ids, pairs, min_score=float(pairs.scores.min(initial=1.0)))
    return ids, group_pairs(ids, pairs, max_distance=float(pairs.distances.max(initial=0.0)))


def _centres_and_margins(
    members: list[npt.NDArray[Any]], pairs: DuplicatePairs, margins: npt.NDArray[np.floating[Any]]
) -> tuple[list[Any], npt.NDArray[np.float64]]:
    """Each group's centre (most pairs inside it) and smallest pair margin (inf without pairs)."""
    n = len(members)
    if n == 0:
        return [], np.zeros(0)
    flat = np.concatenate(members)
    group_of = np.repeat(np.arange(n), [len(m) for m in members])
    order = np.argsort(flat, kind="stable")
    left, right = _lookup(flat, order, pairs.left_ids), _lookup(flat, order, pairs.right_ids)
    inside = (left >= 0) & (right >= 0)
    inside[inside] = group_of[left[inside]] == group_of[right[inside]]
    degree = np.zeros(len(flat), np.int64)
    np.add.at(degree, left[inside], 1)
    np.add.at(degree, right[inside], 1)
    smallest = np.full(n, np.inf)
    np.minimum.at(smallest, group_of[left[inside]], np.asarray(margins, np.float64)[inside])
    starts = np.concatenate([[0], np.cumsum([len(m) for m in members])[:-1]])
    centres = [m[int(np.argmax(degree[s : s + len(m)]))] for m, s in zip(members, starts, strict=True)]
    return [c.item() if isinstance(c, np.generic) else c for c in centres], smallest


def _lookup(
    flat: npt.NDArray[Any], order: npt.NDArray[np.int64], wanted: npt.NDArray[Any]
) -> npt.NDArray[np.int64]:
    """Positions in `flat` (sorted by `order`) of `wanted`'s values; -1 where absent."""
    if len(wanted) == 0:
        return np.zeros(0, np.int64)
    try:
        at = np.searchsorted(flat[order], wanted)
    except TypeError:  # int ids against str ids: none match
        return np.full(len(wanted), -1, np.int64)
    at = np.minimum(at, len(flat) - 1)
    found = flat[order][at] == wanted
    return np.where(found, order[at], -1).astype(np.int64)


def _groups(request: Request) -> ReviewGroups:
    groups = request.app.state.review.groups
    if groups is None:
        raise ConfigError(
            "Expected groups: pairs within the served catalogue or serve --groups FILE. Received: "
            f"{request.app.state.review.groups_error or 'none'}"
        )
    return groups


@router.get("/groups", include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(page_html("review_groups.html"))


_NO_GROUPS = "No groups: pairs outside the served catalogue (a match output) and no --groups FILE"


@router.get("/groups/list", responses=error_responses({400: _NO_GROUPS, 422: "Not the query's schema"}))
def list_groups(
    request: Request,
    offset: int = Query(0, ge=0),
    limit: int = Query(10, ge=1, le=MAX_GROUPS_PER_PAGE),
    order: Literal["size", "uncertain"] = Query(
        "size", description="size (largest first) or uncertain (least certain first)"
    ),
    members: int = Query(12, ge=1, le=MAX_MEMBERS_PER_PAGE, description="Members shown per group."),
) -> dict[str, Any]:
    """A page of groups, each with its first `members` members' fields, labels and image urls."""
    groups = _groups(request)
    ranked = groups.ranked(order)
    labels = groups.log.labels
    shown = [_group(request, groups, at, 0, members, labels) for at in ranked[offset : offset + limit]]
    return {"total": len(groups), "offset": offset, "limit": limit, "order": order, "groups": shown}


@router.get(
    "/groups/{group}",
    responses=error_responses({400: _NO_GROUPS, 404: "No such group", 422: "Not the query's schema"}),
)
def one_group(
    request: Request,
    group: int,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=MAX_MEMBERS_PER_PAGE),
) -> dict[str, Any]:
    """A page of one group's members."""
    groups = _groups(request)
    return _group(request, groups, groups.find(group), offset, limit, groups.log.labels)


@router.post(
    "/groups/member",
    dependencies=[Depends(require_labeller)],
    responses=error_responses(
        {
            400: f"The group's centre, or an id of the wrong type. {_NO_GROUPS}",
            401: "Missing or wrong X-API-Key (a server with a key)",
            404: "No such group, or not a member of it",
            413: "Body too large",
            415: "Not application/json",
            422: "Not the request schema",
        }
    ),
)
def mark_member(body: MemberRequest, request: Request) -> dict[str, Any]:
    """Mark a member as not belonging to its group (`different` from the centre) or back (`same`);
    on disk when this returns."""
    groups = _groups(request)
    item_id = request.app.state.service.engine.coerce_id(body.id)
    label = groups.mark(body.group, item_id, body.belongs)
    return {
        "group": body.group,
        "id": item_id,
        "label": label,
        "progress": request.app.state.review.progress(),
    }


def _group(
    request: Request,
    groups: ReviewGroups,
    at: int,
    offset: int,
    limit: int,
    labels: dict[tuple[Any, Any], str],
) -> dict[str, Any]:
    members = groups.members[at]
    margin = float(groups.margins[at])
    return {
        "group": int(groups.numbers[at]),
        "size": len(members),
        "margin": margin if np.isfinite(margin) else None,
        "centre": groups.centres[at],
        "offset": offset,
        "members": [
            {
                **item_view(request, item_id),
                "centre": item_id == groups.centres[at],
                "label": groups.label(at, item_id, labels),
            }
            for item_id in (
                m.item() if isinstance(m, np.generic) else m for m in members[offset : offset + limit]
            )
        ],
    }
