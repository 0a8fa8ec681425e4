"""The review pages' HTML: a page of the package with the helpers they share inlined."""

from __future__ import annotations

from importlib.resources import files

__all__ = ["page_html"]


def page_html(name: str) -> str:
    """The page `name` of `simsearch.server` with `review_common.js` inlined at its
    `/*REVIEW_COMMON*/` marker (one copy of the helpers for every review page)."""
    folder = files("simsearch.server")
    common = (folder / "review_common.js").read_text()
    return (folder / name).read_text().replace("/*REVIEW_COMMON*/", common)
