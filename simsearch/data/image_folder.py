"""Read a folder tree of images, or a `.zip` of one, into `Items`.

The class of an image is its parent folder relative to the root, so `root/cat/1.png` is class
"cat" and Omniglot's `root/Greek/character01/1.png` is class "Greek/character01" in group "Greek".
Only PIL, numpy and the standard library.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import logging
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import numpy.typing as npt
from PIL import Image

from simsearch.data.items import Items
from simsearch.errors import ConfigError, DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "Tree",
    "decode_image",
    "folder_tree",
    "load_image_folder",
    "resize_images",
    "stack_images",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".gif", ".tif", ".tiff")
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")

Tree = dict[PurePosixPath, Callable[[], bytes]]  # relative path -> reader of the file's bytes


def load_image_folder(
    path: str | Path,
    *,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    labelled: bool = True,
) -> Items:
    """Load a folder tree of images (or a `.zip` holding one) as labelled items.

    The class of an image is its parent folder relative to the root; when every class is 2+
    folders deep, the first folder is the image's group (an Omniglot alphabet). Ids are the paths
    relative to the root. In a zip, one top-level wrapper folder and `__MACOSX/` are ignored.
    Hidden files and images directly in the root are skipped.

    Args:
        path: the root folder, or a `.zip` file.
        image_size: `(h, w)` to resize every image to. When None and sizes differ, all are resized
            to the most common size, with a warning.
        channels: 1 or 3; when None, 3 if any image has colour, else 1.
        labelled: True for training data (class folders, 2+ classes). False for a catalogue to
            index: images directly in the root are items too (unlabelled, -1), and any number of
            classes is fine.

    Returns:
        `Items` with `(n, h, w, channels) float32` images in [0, 1], sorted by path.

    Raises:
        DataError: the path is missing, holds no images or fewer than 2 classes, or an image
            cannot be read.

    Example:
        >>> items = load_image_folder("images_background_small1.zip", image_size=(28, 28))
    """
    root = Path(path)
    _check_options(image_size, channels)
    with _image_tree(root) as tree:
        paths = _labelled_paths(tree, root) if labelled else _all_paths(tree, root)
        class_paths = [rel.parent for rel in paths]
        classes = tuple(sorted({f.as_posix() for f in class_paths if f.parts}))
        if labelled and len(classes) < 2:
            raise DataError(f"Expected at least 2 classes. Received: classes={len(classes)} in '{root}'")
        pictures = [decode_image(tree[rel], f"'{rel}' in '{root}'") for rel in paths]
    index = {name: code for code, name in enumerate(classes)}
    deep = all(len(folder.parts) >= 2 for folder in class_paths)
    return Items(
        ids=np.array([rel.as_posix() for rel in paths]),
        labels=np.array([index.get(folder.as_posix(), -1) for folder in class_paths], dtype=np.int64),
        classes=classes,
        images=stack_images(pictures, image_size, channels, root),
        groups=np.array([folder.parts[0] for folder in class_paths]) if deep else None,
    )


def resize_images(images: npt.NDArray[np.float32], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Resize `(n, h, w, c) float32` images to `size = (h, w)` (box filter when shrinking)."""
    _check_options(size, None)
    if images.shape[1:3] == tuple(size):
        return images
    out = np.empty((len(images), *size, images.shape[3]), dtype=np.float32)
    for i, image in enumerate(images):
        for c in range(images.shape[3]):
            out[i, ..., c] = np.asarray(_resize(Image.fromarray(image[..., c]), size))
    return np.clip(out, 0.0, 1.0, out=out)


def _check_options(image_size: tuple[int, int] | None, channels: int | None) -> None:
    if image_size is not None and (len(image_size) != 2 or not all(_is_positive_int(v) for v in image_size)):
        raise ConfigError(f"Expected image_size=(h, w) of positive ints. Received: {image_size=}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"Expected channels to be None, 1 or 3. Received: {channels=}")


@contextlib.contextmanager
def _image_tree(root: Path) -> Iterator[Tree]:
    """Yield the image files under `root` (a folder or a zip), keeping a zip open meanwhile."""
    if root.is_dir():
        yield folder_tree(root)
    elif root.is_file() and root.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"Expected a readable .zip. Received: '{root}' ({exc})") from exc
        with archive:
            yield _zip_tree(archive)
    else:
        state = "missing" if not root.exists() else "not a folder or .zip"
        raise DataError(f"Expected an image folder or a .zip of one. Received: path='{root}' ({state})")


def folder_tree(root: Path) -> Tree:
    """The image files under `root`, following symbolic links to folders and files (a class
    folder that links elsewhere is read); a link back to a folder already walked is skipped.

    Returns:
        Each image's path relative to `root` -> a reader of its bytes, sorted by path. The Dask
        engine cuts a folder into partitions by these paths.
    """
    tree: Tree = {}
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in files:
            file = Path(folder, name)
            rel = PurePosixPath(file.relative_to(root).as_posix())
            if _is_image(rel) and file.is_file():
                tree[rel] = file.read_bytes
    return dict(sorted(tree.items()))


def _zip_tree(archive: zipfile.ZipFile) -> Tree:
    members = {
        PurePosixPath(info.filename): info
        for info in archive.infolist()
        if not info.is_dir() and _is_image(PurePosixPath(info.filename))
    }
    tops = {rel.parts[0] for rel in members}
    wrapped = len(tops) == 1 and all(len(rel.parts) >= 3 for rel in members)
    return {
        PurePosixPath(*rel.parts[1:]) if wrapped else rel: functools.partial(archive.read, info)
        for rel, info in members.items()
    }


def _is_image(rel: PurePosixPath) -> bool:
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)
    return not hidden and rel.suffix.lower() in IMAGE_SUFFIXES


def _labelled_paths(tree: Tree, root: Path) -> list[PurePosixPath]:
    loose = [rel for rel in tree if len(rel.parts) == 1]
    if loose:
        logger.warning("Skipping %d image(s) outside class folders in '%s'", len(loose), root)
    paths = sorted(rel for rel in tree if len(rel.parts) > 1)
    if not paths:
        raise DataError(
            f"Expected images ({', '.join(IMAGE_SUFFIXES)}) in class folders. Received: none in '{root}'"
        )
    return paths


def _all_paths(tree: Tree, root: Path) -> list[PurePosixPath]:
    paths = sorted(tree)
    if not paths:
        raise DataError(f"Expected images ({', '.join(IMAGE_SUFFIXES)}). Received: none in '{root}'")
    return paths


def decode_image(read: Callable[[], bytes], name: str) -> Image.Image:
    """Decode one image as mode 'L' or 'RGB' (alpha composited on white), sixteen-bit images
    scaled to eight; `read` returns its bytes, `name` names it in the `DataError` of an
    unreadable file."""
    try:
        with Image.open(io.BytesIO(read())) as image:
            image.load()
            return _as_l_or_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"Expected a readable image. Received: {name} ({exc})") from exc


def _as_l_or_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT:
        eight_bit = np.asarray(image, dtype=np.float64) * (255.0 / 65535.0)
        return Image.fromarray(np.clip(np.round(eight_bit), 0, 255).astype(np.uint8))
    if image.mode in ("1", "L"):
        return image.convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    rgb = image.convert("RGB")
    pixels = np.asarray(rgb)
    grey = (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    return rgb.convert("L") if grey else rgb


def stack_images(
    pictures: list[Image.Image],
    image_size: tuple[int, int] | None,
    channels: int | None,
    root: Path,
) -> npt.NDArray[np.float32]:
    """Stack decoded images as `(n, h, w, c) float32` in [0, 1]: resized to `image_size` (default
    the most common size, with a warning naming `root` when they differ), with `channels` 1 or 3
    (default 3 when any image is in colour)."""
    colour = channels == 3 or (channels is None and any(p.mode == "RGB" for p in pictures))
    size = image_size or _common_size(pictures, root)
    out = np.empty((len(pictures), *size, 3 if colour else 1), dtype=np.float32)
    for i, picture in enumerate(pictures):
        pixels = np.asarray(_resize(picture.convert("RGB" if colour else "L"), size), np.float32)
        out[i] = pixels.reshape(out.shape[1:])
    out /= 255.0
    return out


def _common_size(pictures: list[Image.Image], root: Path) -> tuple[int, int]:
    sizes = collections.Counter((p.height, p.width) for p in pictures)
    size = sizes.most_common(1)[0][0]
    if len(sizes) > 1:
        seen = ", ".join(f"{h}x{w} ({count})" for (h, w), count in sizes.most_common())
        logger.warning(
            "Images in '%s' differ in size (h x w: %s); resizing all to %dx%d, the most common",
            root,
            seen,
            *size,
        )
    return size


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    if (image.height, image.width) == (height, width):
        return image
    shrinking = height <= image.height and width <= image.width
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return image.resize((width, height), resample)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and bool(value >= 1)
