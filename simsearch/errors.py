"""Errors raised by simsearch.

Every error simsearch raises on purpose derives from `SimsearchError`; the CLI turns any of them into
one clean line on stderr and exit code 1.

    SimsearchError
    ├── DataError            bad or unreadable input data (wrong columns, one class, mixed shapes, ...)
    │   ├── UnknownIdError   catalogue ids that are not in the index (HTTP 404)
    │   ├── FaceError        a photo without exactly one usable face (no face, or several)
    │   └── DuplicateIdError catalogue ids already in the index, added again (HTTP 409)
    ├── ConfigError          an unknown name or an invalid setting (tower, loss, optimiser, margin, ...)
    │   └── FilterError      a metadata filter (`where`) malformed, or naming a field the items lack
    │                        or a value of a type the field does not hold (HTTP 422)
    ├── ModelDirError        a model directory that is missing, incomplete or from another version
    │   └── ModelFileError   one of its files damaged: not UTF-8 or JSON, a truncated or corrupted
    │                        .keras file, a tower or head whose shapes do not match config.json
    ├── IndexFileError       an index directory that is missing, corrupted or inconsistent with its manifest
    ├── OutputFileError      an output file that cannot be written (missing folder, no permission, ...)
    ├── NotBuiltError        an index used before `build` gave it any content
    └── BusyError            work that runs one at a time, asked for while it runs (a retraining; HTTP
                             409), or an index directory another process is writing (`--no-wait`)

Messages say what was expected and what was received, in the Keras style:
"Expected at least 2 classes. Received: classes=1 in 'data/one_class'".
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "BusyError",
    "ConfigError",
    "DataError",
    "DuplicateIdError",
    "FaceError",
    "FilterError",
    "IndexFileError",
    "ModelDirError",
    "ModelFileError",
    "NotBuiltError",
    "OutputFileError",
    "SimsearchError",
    "UnknownIdError",
]


class SimsearchError(Exception):
    """Base class of every error simsearch raises on purpose."""


class DataError(SimsearchError, ValueError):
    """Input data that cannot be used as given."""


class UnknownIdError(DataError):
    """Catalogue ids that are not in the index."""


class DuplicateIdError(DataError):
    """Catalogue ids already in the index, added again (upsert replaces items instead)."""


class FaceError(DataError):
    """A photo in which no face, or more than one, was found where one was expected."""


class ConfigError(SimsearchError, ValueError):
    """An unknown name or an invalid setting."""


class FilterError(ConfigError):
    """A metadata filter (`where`) that is malformed (an unknown operator, `$in` without a list,
    ...), or that names a field no item holds or compares it with a value of another type."""


class ModelDirError(SimsearchError):
    """A model directory that cannot be loaded."""


class ModelFileError(ModelDirError):
    """A file of a model directory that is damaged or does not belong to it; `path` names it."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class IndexFileError(SimsearchError):
    """An index directory (`index.faiss`, `items.h5`, `manifest.json`) that cannot be loaded."""


class OutputFileError(SimsearchError, OSError):
    """An output file (pairs, groups) that cannot be written where it was asked for."""


class NotBuiltError(SimsearchError, RuntimeError):
    """An index searched, updated or saved before `build`."""


class BusyError(SimsearchError, RuntimeError):
    """Work that runs one at a time (a retraining from the review page, a writer of an index
    directory), asked for while it runs."""
