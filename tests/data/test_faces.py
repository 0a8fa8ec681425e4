"""Faces in photos (`simsearch.data.faces`) on real ORL photos, against dlib called directly.

Needs dlib and its model files (`make install` installs both) and `../shared/data/faces`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simsearch.data.faces import (
    FaceConfig,
    dlib_available,
    face_descriptors,
    face_mask,
    find_face,
    model_files,
)
from simsearch.errors import ConfigError, FaceError

ORL = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "att_orl_faces"
needs_dlib = pytest.mark.skipif(not dlib_available(), reason="needs dlib and face-recognition-models")
needs_orl = pytest.mark.skipif(not ORL.is_dir(), reason="needs ../shared/data/faces (not in a fresh clone)")


@pytest.mark.parametrize(
    "settings",
    [{"on_no_face": "guess"}, {"on_many_faces": "all"}, {"upsample": 5}, {"pad": -0.1}],
    ids=["no-face", "many-faces", "upsample", "pad"],
)
def test_bad_settings(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="Expected"):
        FaceConfig(**settings)  # type: ignore[arg-type]


@needs_dlib
def test_only_the_free_model_files_are_used() -> None:
    names = sorted(p.name for p in model_files().values())
    assert names == [
        "dlib_face_recognition_resnet_model_v1.dat",
        "mmod_human_face_detector.dat",
        "shape_predictor_5_face_landmarks.dat",
    ]  # never the package's shape_predictor_68_face_landmarks.dat (non-commercial)


def _photo(person: int, n: int) -> np.ndarray:
    return np.asarray(Image.open(ORL / f"s{person}" / f"{n}.pgm").convert("RGB"))


def _dlib_descriptor(photo: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Oracle: dlib's own calls, as its face_recognition example makes them."""
    import dlib

    files = model_files()
    shape = dlib.shape_predictor(str(files["landmarks"]))(photo, dlib.rectangle(*box))
    net = dlib.face_recognition_model_v1(str(files["descriptor"]))
    return np.asarray(net.compute_face_descriptor(photo, shape), np.float32)


@needs_dlib
@needs_orl
def test_descriptors_are_dlibs_and_tell_people_apart() -> None:
    import dlib

    photos = [_photo(1, 1), _photo(1, 2), _photo(7, 1)]
    x = face_descriptors(photos, FaceConfig())
    assert x.shape == (3, 128) and x.dtype == np.float32
    box = dlib.get_frontal_face_detector()(photos[0], 0)[0]
    expected = _dlib_descriptor(photos[0], (box.left(), box.top(), box.right(), box.bottom()))
    np.testing.assert_allclose(x[0], expected, atol=1e-5)
    same, other = np.linalg.norm(x[0] - x[1]), np.linalg.norm(x[0] - x[2])
    assert same < 0.5 < other  # dlib's scale: one person within ~0.6
    # Paths and float images in [0, 1] give the same descriptors as uint8 arrays.
    by_path = face_descriptors([str(ORL / "s1" / "1.pgm")], FaceConfig())
    np.testing.assert_allclose(by_path[0], x[0], atol=1e-5)
    grey = photos[0][..., :1].astype(np.float32) / 255.0
    np.testing.assert_allclose(face_descriptors(grey[None], FaceConfig())[0], x[0], atol=1e-5)


@needs_dlib
@needs_orl
def test_no_face_policies() -> None:
    blank = np.full((112, 92, 3), 128, np.uint8)
    with pytest.raises(FaceError, match=r"Expected a face in 'blank.png'\. Received: none found"):
        face_descriptors([blank], FaceConfig(), names=["blank.png"])
    assert face_mask([blank, _photo(1, 1)], FaceConfig(on_no_face="skip")).tolist() == [False, True]
    whole = face_descriptors([blank], FaceConfig(on_no_face="whole-image"))
    np.testing.assert_allclose(whole[0], _dlib_descriptor(blank, (0, 0, 91, 111)), atol=1e-5)


@needs_dlib
@needs_orl
def test_a_tight_crop_is_found_after_padding() -> None:
    # s2/2.pgm: the detector misses the face on the 92x112 crop, finds it on the padded photo
    photo = _photo(2, 2)
    found = find_face(photo, FaceConfig(pad=0.25))
    assert found is not None and found[0].shape[0] > photo.shape[0]
    assert find_face(photo, FaceConfig(pad=0.0, cnn_fallback=False, on_no_face="skip")) is None


@needs_dlib
@needs_orl
def test_the_cnn_detector_finds_what_hog_misses() -> None:
    # s2/6.pgm: missed by the HOG detector even padded; the CNN detector finds it
    photo = _photo(2, 6)
    assert find_face(photo, FaceConfig(cnn_fallback=False, on_no_face="skip")) is None
    found = find_face(photo, FaceConfig())
    assert found is not None and found[0] is photo


@needs_dlib
@needs_orl
def test_several_faces() -> None:
    pad = ((60, 60), (60, 60), (0, 0))
    big, small = np.pad(_photo(1, 1), pad, mode="edge"), np.pad(_photo(7, 1), pad, mode="edge")
    big = np.asarray(Image.fromarray(big).resize((big.shape[1] * 5 // 4, big.shape[0] * 5 // 4)))
    two = np.zeros((big.shape[0], big.shape[1] + small.shape[1], 3), np.uint8)
    two[:, : big.shape[1]], two[: small.shape[0], big.shape[1] :] = big, small
    with pytest.raises(FaceError, match=r"Expected one face in photo 0\. Received: 2 faces"):
        face_descriptors([two], FaceConfig())
    largest = face_descriptors([two], FaceConfig(on_many_faces="largest"))[0]
    alone = face_descriptors([_photo(1, 1)], FaceConfig())[0]
    assert np.linalg.norm(largest - alone) < 0.3  # the larger face is s1's
