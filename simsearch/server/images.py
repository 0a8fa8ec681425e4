"""The catalogue's images for the review pages: `open_images` picks the reader by the catalogue's
kind, and `GET /review/image?id=ID` answers with one item's image file.

Path safety: an image is served only for an id of the index (a catalogue item), and a folder's
file is found from that id alone, never from a path the caller writes: the id must be a relative
POSIX path without `..`, hidden parts or a drive, ending in an image suffix, naming a file under
the catalogue root. Symbolic links are resolved and the file they lead to is served only when it
is a regular file inside the resolved root (a link out of the catalogue is an unknown image).
Zips are read through their member table (no extraction), `.npz` arrays are encoded as PNG on
the fly.

    FolderImages   a class-folder tree (ids: paths relative to the root, as `build-index` gives)
    ZipImages      a `.zip` of one (one top-level wrapper folder skipped, as the loader does)
    ArrayImages    an `.npz` of arrays (the bundled Omniglot sample)
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Container
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from simsearch.data.image_folder import IMAGE_SUFFIXES
from simsearch.errors import ConfigError, DataError, UnknownIdError
from simsearch.server.schemas import error_responses

__all__ = ["ArrayImages", "FolderImages", "ImageSource", "ZipImages", "open_images", "router"]

router = APIRouter(prefix="/review", tags=["review"])

_BROWSER_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",  # not mimetypes: some Pythons say image/x-ms-bmp
}


class ImageSource(Protocol):
    """Reads one catalogue item's image: `(bytes of an image file, media type)`."""

    def read(self, item_id: Any) -> tuple[bytes, str]: ...


class FolderImages:
    """Images of a folder tree, `root/ID`, for the ids in `ids` only."""

    def __init__(self, root: str | os.PathLike[str], ids: Container[Any]) -> None:
        self.root = Path(root)
        self.ids = ids
        self._resolved = self.root.resolve()

    def read(self, item_id: Any) -> tuple[bytes, str]:
        rel = _relative_image_path(item_id, self.ids)
        file = self.root.joinpath(*rel.parts).resolve()
        if not (file.is_relative_to(self._resolved) and file.is_file()):
            raise UnknownIdError(
                f"Expected the image file of {item_id!r}: a regular file under '{self.root}'. "
                "Received: no such file, or a link out of the folder"
            )
        return _for_browser(file.read_bytes(), rel)


class ZipImages:
    """Images of a `.zip` of a folder tree, for the ids in `ids` only (the archive stays open)."""

    def __init__(self, path: str | os.PathLike[str], ids: Container[Any]) -> None:
        self.path = Path(path)
        self.ids = ids
        try:
            self._archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"Expected a readable .zip. Received: '{self.path}' ({exc})") from exc
        self._members = _zip_members(self._archive)

    def read(self, item_id: Any) -> tuple[bytes, str]:
        rel = _relative_image_path(item_id, self.ids)
        info = self._members.get(rel)
        if info is None:
            raise UnknownIdError(f"Expected the image of {item_id!r} in '{self.path}'. Received: none")
        return _for_browser(self._archive.read(info), rel)


class ArrayImages:
    """Images of an `.npz` catalogue (`load_npz`), encoded as PNG per request."""

    def __init__(self, ids: Any, images: np.ndarray) -> None:
        self.rows = {key: row for row, key in enumerate(np.asarray(ids).tolist())}
        self.images = images

    def read(self, item_id: Any) -> tuple[bytes, str]:
        row = self.rows.get(item_id)
        if row is None:
            raise UnknownIdError(f"Expected an id of the catalogue's images. Received: {item_id!r}")
        return _png(self.images[row]), "image/png"


def open_images(path: str | os.PathLike[str], ids: Container[Any]) -> ImageSource:
    """The image reader of the catalogue at `path` (folder, `.zip` or `.npz`) for the index `ids`."""
    path = Path(path)
    if path.is_dir():
        return FolderImages(path, ids)
    if path.suffix.lower() == ".zip":
        return ZipImages(path, ids)
    if path.suffix.lower() == ".npz":
        from simsearch.data.arrays import load_npz

        items = load_npz(path)
        return ArrayImages(items.ids, items.images if items.images is not None else np.zeros((0, 1, 1)))
    raise ConfigError(
        f"Expected an image catalogue (a folder, .zip or .npz) for an image index. Received: '{path}'"
    )


_IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/image",
    response_class=Response,
    responses={
        200: {
            "description": "The image file (formats browsers do not show are sent as PNG)",
            "content": {media: _IMAGE for media in sorted(set(_BROWSER_TYPES.values()))},
        },
        **error_responses(
            {
                400: "The catalogue's file is not a readable image",
                404: "Not an image of the catalogue, or no catalogue (serve --catalog)",
                422: "No id",
            }
        ),
    },
)
def image(request: Request, item_id: str = Query(alias="id", description="Catalogue id.")) -> Response:
    """One catalogue item's image file (only items of the served index)."""
    review = request.app.state.review
    if review.images is None:
        raise UnknownIdError(
            "Expected a server started with --catalog (the image folder the index was built from). "
            "Received: no catalogue"
        )
    try:
        item = request.app.state.service.engine.coerce_id(item_id)
    except DataError:  # not an id at all ("", beyond int64, ...): not one of the served index either
        raise UnknownIdError(f"Expected an id of the served index. Received: {item_id!r}") from None
    content, media_type = review.images.read(item)
    return Response(content, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def _relative_image_path(item_id: Any, ids: Container[Any]) -> PurePosixPath:
    """The path an id names under the root, refused unless it is a safe path of an indexed item."""
    if not isinstance(item_id, str) or item_id not in ids:
        raise UnknownIdError(f"Expected an id of the served index. Received: {item_id!r}")
    rel = PurePosixPath(item_id)
    unsafe = (
        rel.is_absolute()
        or "\\" in item_id
        or ":" in rel.parts[0]
        or any(part in ("", ".", "..") or part.startswith(".") for part in rel.parts)
    )
    if unsafe or rel.suffix.lower() not in IMAGE_SUFFIXES:
        raise UnknownIdError(
            f"Expected an id that is a relative image path ({', '.join(IMAGE_SUFFIXES)}) without '..' "
            f"or hidden parts. Received: {item_id!r}"
        )
    return rel


def _zip_members(archive: zipfile.ZipFile) -> dict[PurePosixPath, zipfile.ZipInfo]:
    """Image members by the id `load_image_folder` gives them (one wrapper folder dropped)."""
    members = {
        PurePosixPath(info.filename): info
        for info in archive.infolist()
        if not info.is_dir() and PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES
    }
    tops = {rel.parts[0] for rel in members}
    wrapped = len(tops) == 1 and all(len(rel.parts) >= 3 for rel in members)
    return {PurePosixPath(*rel.parts[1:]) if wrapped else rel: info for rel, info in members.items()}


def _for_browser(content: bytes, rel: PurePosixPath) -> tuple[bytes, str]:
    """The file as is when browsers show its format, else as PNG (ORL's .pgm faces, TIFF)."""
    media_type = _BROWSER_TYPES.get(rel.suffix.lower())
    if media_type is not None:
        return content, media_type
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as picture:
            mode = "L" if picture.mode in ("1", "L", "I", "I;16") else "RGB"
            return _png(np.asarray(picture.convert(mode)) / 255.0), "image/png"
    except (OSError, ValueError) as exc:
        raise DataError(f"Expected a readable image. Received: '{rel}' ({exc})") from exc


def _png(image: np.ndarray) -> bytes:
    """A `(h, w[, c]) float32` image in [0, 1] as PNG bytes."""
    from PIL import Image

    pixels = np.clip(np.asarray(image, np.float32) * 255.0, 0, 255).round().astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
