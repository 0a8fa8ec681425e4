"""Faces in photos: detection, 5-point alignment and dlib's 128-d face descriptor.

dlib is a frozen feature extractor here, run in the data pipeline outside the Keras graph: its
HOG frontal-face detector finds the face, its 5-point landmark model aligns it to a 150x150
chip, and its face ResNet (`dlib_face_recognition_resnet_model_v1.dat`, trained on ~3M faces of
~7.5k people) turns the chip into a 128-d descriptor, in which two photos of one person lie
within Euclidean distance ~0.6. The face tower (`simsearch.models.face_tower`) learns on top of
these descriptors.

The weights come from the `face-recognition-models` package (installed by `make install`;
Davis King's dlib models, in the public domain / CC0); only the 5-point predictor, the HOG and
CNN detectors and the ResNet are used. The 68-point predictor in that package is licensed for
non-commercial use and is never loaded. Nothing is downloaded at run time.

Tightly cropped photos (ORL: 92x112, the face fills the frame) leave the detector without the
context around a face it was trained with: when it finds nothing, it is run again on the photo
padded by `pad` of its size on each side, then on that upsampled once more; when that fails too
and `cnn_fallback` is on, dlib's CNN face detector (`mmod_human_face_detector.dat`, slower:
0.5-4 s a photo on a CPU, so only as the last resort) tries the photo upsampled 0, 1 and 2
times. On ORL the HOG detector alone finds 387 of the 400 faces, padding 396, the CNN the last
4; 20-way one-shot over the 40 people (2000 trials) is 98.1%, 98.85% and 99.9% after each step.
Then `on_no_face` decides: `"error"`, `"skip"` (the photo is left out by `face_mask`) or
`"whole-image"` (the whole photo is the face box). Several faces: `on_many_faces="error"` or
`"largest"`.

Only numpy, PIL and the standard library at import; dlib is imported on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, FaceError

__all__ = [
    "DESCRIPTOR_DIM",
    "FaceConfig",
    "dlib_available",
    "face_descriptors",
    "face_mask",
    "find_face",
    "model_files",
]

logger = logging.getLogger(__name__)

DESCRIPTOR_DIM = 128
_PACKAGE = "face_recognition_models"
# The three files used; the package's shape_predictor_68_face_landmarks.dat is non-commercial.
_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}
_CNN_UPSAMPLES = (0, 1, 2)
_INSTALL = "pip install dlib-bin && pip install --no-deps face-recognition-models (make install does both)"

Box = tuple[int, int, int, int]  # left, top, right, bottom in the photo's pixels


@dataclass(frozen=True)
class FaceConfig:
    """How a photo becomes one face.

    Attributes:
        on_no_face: `"error"`, `"skip"` (leave the photo out) or `"whole-image"` (the photo is the
            face box) when no face is found, even on the padded photo.
        on_many_faces: `"error"` or `"largest"` (the largest box) when several faces are found.
        upsample: times the detector doubles the photo first (finds smaller faces, ~4x slower each).
        pad: share of the photo's larger side added on each side before the second detection.
        cnn_fallback: try dlib's CNN detector when the HOG detector finds no face.
    """

    on_no_face: Literal["error", "skip", "whole-image"] = "error"
    on_many_faces: Literal["error", "largest"] = "error"
    upsample: int = 0
    pad: float = 0.25
    cnn_fallback: bool = True

    def __post_init__(self) -> None:
        if self.on_no_face not in ("error", "skip", "whole-image"):
            raise ConfigError(
                f"Expected on_no_face in ('error', 'skip', 'whole-image'). Received: {self.on_no_face!r}"
            )
        if self.on_many_faces not in ("error", "largest"):
            raise ConfigError(
                f"Expected on_many_faces in ('error', 'largest'). Received: {self.on_many_faces!r}"
            )
        if not 0 <= self.upsample <= 3 or self.pad < 0:
            raise ConfigError(
                "Expected 0 <= upsample <= 3 and pad >= 0. "
                f"Received: upsample={self.upsample}, pad={self.pad}"
            )


def dlib_available() -> bool:
    """Whether dlib and the face model files are installed (nothing is imported)."""
    return importlib.util.find_spec("dlib") is not None and importlib.util.find_spec(_PACKAGE) is not None


def model_files() -> dict[str, Path]:
    """Paths of the landmark and descriptor model files, found without importing their package.

    Raises:
        ConfigError: the package is not installed.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"Expected the face models package {_PACKAGE!r}. Received: not installed; {_INSTALL}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    files = {name: folder / file for name, file in _FILES.items()}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise ConfigError(f"Expected the face model files. Received: missing {missing}; {_INSTALL}")
    return files


@functools.lru_cache(maxsize=1)
def _cnn_detector() -> Any:
    dlib = _dlib_models()[0]
    return dlib.cnn_face_detection_model_v1(str(model_files()["cnn_detector"]))


@functools.lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any, Any, Any]:
    """dlib and its detector, landmark predictor and descriptor net, loaded once per process."""
    try:
        import dlib
    except ImportError as exc:
        raise ConfigError(f"Expected dlib for face models. Received: not installed; {_INSTALL}") from exc
    files = model_files()
    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(str(files["landmarks"]))
    net = dlib.face_recognition_model_v1(str(files["descriptor"]))
    return dlib, detector, landmarks, net


def find_face(
    photo: npt.NDArray[np.uint8], config: FaceConfig, name: str = "the photo"
) -> tuple[Any, Box] | None:
    """The face to describe in an `(h, w, 3) uint8` RGB photo: `(photo it was found in, box)`, the
    photo padded when found only there; None when skipped (`on_no_face="skip"`).

    Raises:
        FaceError: no face (`on_no_face="error"`) or several (`on_many_faces="error"`).
    """
    _, detector, _, _ = _dlib_models()
    h, w = photo.shape[:2]
    target, boxes = photo, list(detector(photo, config.upsample))
    if not boxes and config.pad > 0:
        p = round(config.pad * max(h, w))
        target = np.ascontiguousarray(np.pad(photo, ((p, p), (p, p), (0, 0)), mode="edge"))
        boxes = list(detector(target, config.upsample)) or list(detector(target, config.upsample + 1))
    if not boxes and config.cnn_fallback:
        target = photo
        for times in _CNN_UPSAMPLES:
            boxes = [found.rect for found in _cnn_detector()(photo, times)]
            if boxes:
                break
    if len(boxes) > 1 and config.on_many_faces == "error":
        raise FaceError(
            f"Expected one face in {name}. Received: {len(boxes)} faces; crop the photo or pass "
            "--on-many-faces largest"
        )
    if boxes:
        box = max(boxes, key=lambda r: r.area())
        return target, (box.left(), box.top(), box.right(), box.bottom())
    if config.on_no_face == "error":
        raise FaceError(
            f"Expected a face in {name}. Received: none found ({w}x{h} pixels); pass --on-no-face "
            "whole-image for photos cropped to the face, or --on-no-face skip"
        )
    if config.on_no_face == "skip":
        logger.warning("No face found in %s: skipped", name)
        return None
    return photo, (0, 0, w - 1, h - 1)


def face_mask(
    photos: Sequence[Any] | npt.NDArray[Any], config: FaceConfig, names: Sequence[str] | None = None
) -> npt.NDArray[np.bool_]:
    """`(n,) bool`: True for each photo that yields a face under `config` (False only for photos
    skipped by `on_no_face="skip"`); raises `FaceError` as `find_face` does."""
    return np.array(
        [find_face(_rgb(p), config, _name(names, i, p)) is not None for i, p in enumerate(photos)], dtype=bool
    )


def face_descriptors(
    photos: Sequence[Any] | npt.NDArray[Any], config: FaceConfig, names: Sequence[str] | None = None
) -> npt.NDArray[np.float32]:
    """`(n, 128) float32` dlib descriptors of photos: image paths, or `(n, h, w[, c])` arrays
    (uint8, or float in [0, 1]); grey photos are tiled to RGB.

    Raises:
        FaceError: a photo without one usable face under `config`; with `on_no_face="skip"` too,
            since every photo must give a row (drop them first with `face_mask`).
    """
    dlib, _, landmarks, net = _dlib_models()
    out = np.empty((len(photos), DESCRIPTOR_DIM), np.float32)
    strict = dataclasses.replace(config, on_no_face="error") if config.on_no_face == "skip" else config
    for i, photo in enumerate(photos):
        found = find_face(_rgb(photo), strict, _name(names, i, photo))
        assert found is not None  # for mypy: a strict config never skips
        target, (left, top, right, bottom) = found
        shape = landmarks(target, dlib.rectangle(left, top, right, bottom))
        out[i] = np.asarray(net.compute_face_descriptor(target, shape), np.float32)
    return out


def _name(names: Sequence[str] | None, i: int, photo: Any) -> str:
    if names is not None:
        return f"'{names[i]}'"
    if isinstance(photo, (str, os.PathLike)):
        return f"'{photo}'"
    return f"photo {i}"


def _rgb(photo: Any) -> npt.NDArray[np.uint8]:
    """An `(h, w, 3) uint8` RGB copy of a photo path or array."""
    if isinstance(photo, (str, os.PathLike)):
        from PIL import Image

        from simsearch.errors import DataError

        try:
            with Image.open(photo) as opened:
                return np.asarray(opened.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise DataError(f"Expected a readable image file. Received: '{photo}' ({exc})") from exc
    array = np.asarray(photo)
    if array.dtype != np.uint8:
        array = np.clip(np.round(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])
