"""Lake et al.'s official one-shot runs: 20 runs of 20-way 1-shot trials on Omniglot.

Reads `all_runs.zip` from github.com/brendenlake/omniglot (`python/one-shot-classification`):
`runNN/training/classMM.png` (one drawing per class), `runNN/test/itemMM.png` (the queries) and
`runNN/class_labels.txt` (lines "runNN/test/itemMM.png runNN/training/classKK.png"). Score an
encoder on them with `simsearch.evaluation.oneshot.lake_runs_accuracy`.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError

__all__ = ["OneShotRun", "load_lake_runs"]


@dataclass(frozen=True)
class OneShotRun:
    """One run of Lake's one-shot task: every query is one of the support classes.

    Attributes:
        support: `(n_way, h, w, 1) float32` one image per class, 1 = background, 0 = ink.
        queries: `(n_queries, h, w, 1) float32` in the same convention.
        answer: `(n_queries,) int64` index into `support` of each query's class.
        name: the run's folder in the archive, e.g. "run01".
    """

    support: npt.NDArray[np.float32]
    queries: npt.NDArray[np.float32]
    answer: npt.NDArray[np.int64]
    name: str = ""


def _read_image(
    archive: zipfile.ZipFile, name: str, image_size: tuple[int, int] | None
) -> npt.NDArray[np.float32]:
    from PIL import Image

    with Image.open(io.BytesIO(archive.read(name))) as image:
        gray = image.convert("L")
    if image_size is not None:
        gray = gray.resize((image_size[1], image_size[0]), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32)[..., None] / 255.0


def _read_answers(archive: zipfile.ZipFile, run: str) -> dict[str, str]:
    """Parse `run/class_labels.txt`: test image path -> training image path."""
    answers = {}
    for line in archive.read(f"{run}/class_labels.txt").decode().splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(
                f"Expected 'test.png training.png' per line. Received: {line!r} in {run}"
            )
        answers[parts[0]] = parts[1]
    return answers


def _read_run(archive: zipfile.ZipFile, run: str, image_size: tuple[int, int] | None) -> OneShotRun:
    names, prefix = archive.namelist(), re.escape(run)
    training = sorted(n for n in names if re.fullmatch(rf"{prefix}/training/[^/]+\.png", n))
    test = sorted(n for n in names if re.fullmatch(rf"{prefix}/test/[^/]+\.png", n))
    answers = _read_answers(archive, run)
    if sorted(answers) != test or not set(answers.values()) <= set(training):
        raise DataError(
            f"Expected class_labels.txt to pair each of the {len(test)} test images with one of "
            f"the {len(training)} training images. Received: {len(answers)} lines in {run}"
        )
    return OneShotRun(
        support=np.stack([_read_image(archive, n, image_size) for n in training]),
        queries=np.stack([_read_image(archive, n, image_size) for n in test]),
        answer=np.array([training.index(answers[n]) for n in test], dtype=np.int64),
        name=run,
    )


def load_lake_runs(
    zip_path: str | Path, *, image_size: tuple[int, int] | None = None
) -> list[OneShotRun]:
    """Read Lake's 20 official one-shot runs from `all_runs.zip` (brendenlake/omniglot).

    Images keep the PNGs' convention, 1 = white background and 0 = ink, as `float32` in [0, 1].

    Args:
        zip_path: path to `all_runs.zip`.
        image_size: `(h, w)` to resize to with PIL's box filter, or None to keep 105x105.

    Returns:
        One `OneShotRun` per `runNN/` folder, in order: 20 runs of 20 support and 20 query images.

    Example:
        >>> runs = load_lake_runs("all_runs.zip", image_size=(28, 28))
        >>> lake_runs_accuracy(tower.predict, runs).accuracy
    """
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise ConfigError(f"Expected image_size=(h, w) of positive ints. Received: {image_size!r}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            runs = sorted({n.split("/")[0] for n in names if n.endswith("/class_labels.txt")})
            if not runs:
                raise DataError(
                    "Expected runNN/class_labels.txt in the archive. "
                    f"Received: none in '{zip_path}'"
                )
            return [_read_run(archive, run, image_size) for run in runs]
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(
            f"Expected a readable all_runs.zip. Received: '{zip_path}' ({error})"
        ) from error
