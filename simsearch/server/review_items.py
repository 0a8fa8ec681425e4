"""An item as the review pages show it: its id, stored fields and image url.

Shared by the pair queue (`review.py`) and the groups view (`groups.py`), which both show items
and which `review.py` mounts: kept apart so that neither imports the other for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from simsearch.errors import UnknownIdError

__all__ = ["item_view"]


def item_view(request: Request, item_id: Any) -> dict[str, Any]:
    """An item as the pages show it: its id, stored fields (None for an id not in the index, the
    B side of a match) and the url of its image (None without the catalogue's images)."""
    index = request.app.state.service.engine.index
    try:
        fields: dict[str, Any] | None = dict(index.metadata([item_id])[0] or {})
    except UnknownIdError:
        fields = None
    images = request.app.state.review.images
    url = None if images is None or fields is None else f"/review/image?{urlencode({'id': item_id})}"
    return {"id": item_id, "fields": fields, "image": url}
