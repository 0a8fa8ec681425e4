"""`simsearch enrol` and `identify` through CliRunner on real ORL photos, with a brute-force
oracle over dlib descriptors. The model is the face tower at its start (dlib's descriptor
itself), its false-accept curve from five other people (the `face_model` fixture).

Needs dlib and face-recognition-models (`make install`) and `../shared/data/faces`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from simsearch.cli import cli
from simsearch.data.faces import FaceConfig, dlib_available, face_descriptors

ORL = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "att_orl_faces"
pytestmark = [
    pytest.mark.skipif(not dlib_available(), reason="needs dlib and face-recognition-models"),
    pytest.mark.skipif(not ORL.is_dir(), reason="needs ../shared/data/faces (not in a fresh clone)"),
]
ENROLLED = ("s1", "s3", "s5")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, face_model: Callable[..., Path]) -> Path:
    return face_model(tmp_path_factory.mktemp("faces") / "model")


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _enrol(model_dir: Path, index: Path, gallery: Path) -> Result:
    """Enrol ENROLLED with their first photo, from a folder of one sub-folder per person."""
    for person in ENROLLED:
        (gallery / person).mkdir(parents=True)
        shutil.copy(ORL / person / "1.pgm", gallery / person / "1.pgm")
    return _run("enrol", "--model", str(model_dir), "--index", str(index), "--people", str(gallery))


def test_enrol_then_identify_agrees_with_brute_force(model_dir: Path, tmp_path: Path) -> None:
    from simsearch.evaluation.metrics import threshold_for_far
    from simsearch.models import SiameseModel

    index = tmp_path / "staff"
    result = _enrol(model_dir, index, tmp_path / "g")
    assert result.exit_code == 0, result.output
    assert "Enrolled 3 photos of 3 people" in result.output
    s7 = [str(ORL / "s7" / f"{n}.pgm") for n in (1, 2)]
    result = _run("enrol", "--index", str(index), "--person", "s7", *s7)
    assert result.exit_code == 0 and "5 photos in" in result.output, result.output
    manifest = json.loads((index / "manifest.json").read_text())
    curve = SiameseModel.load(model_dir).calibration["far"]
    threshold = threshold_for_far(curve, 0.001)
    assert manifest["extra"]["identify"]["threshold"] == pytest.approx(threshold)

    probes = [ORL / p / "4.pgm" for p in ("s1", "s3", "s7", "s9", "s20")]
    result = _run("identify", "--index", str(index), "--json", *map(str, probes))
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.strip().splitlines()]
    # Oracle: every probe against every enrolled photo, in numpy.
    enrolled = [ORL / p / "1.pgm" for p in ENROLLED] + [ORL / "s7" / "1.pgm", ORL / "s7" / "2.pgm"]
    names = np.array([*ENROLLED, "s7", "s7"])
    config = FaceConfig(on_no_face="whole-image")
    xb, xq = (face_descriptors(list(map(str, f)), config) for f in (enrolled, probes))
    d = np.linalg.norm(xq[:, None] - xb[None], axis=-1)
    for answer, row in zip(answers, d, strict=True):
        accepted = row.min() <= threshold
        assert answer["accepted"] == accepted
        assert answer["identity"] == (names[row.argmin()] if accepted else "unknown")
        assert answer["distance"] == pytest.approx(row.min(), abs=1e-5)
    assert [a["identity"] for a in answers[:3]] == ["s1", "s3", "s7"]
    assert [a["identity"] for a in answers[3:]] == ["unknown", "unknown"]  # never enrolled


def test_face_errors_are_one_line(model_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((112, 92), 128, np.uint8)).save(blank)
    result = _run("enrol", "--index", str(tmp_path / "new"), "--person", "x", str(blank))
    assert result.exit_code == 1 and "Expected --model for a new index" in result.output
    index = tmp_path / "staff"
    assert _enrol(model_dir, index, tmp_path / "g").exit_code == 0
    result = _run("identify", "--index", str(index), "--on-no-face", "error", str(blank))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: Expected a face in '{blank}'. Received: none found (92x112 pixels); pass --on-no-face "
        "whole-image for photos cropped to the face, or --on-no-face skip"
    ]
    result = _run("identify", "--index", str(index), "--on-no-face", "skip", str(blank))
    assert result.exit_code == 0 and "no face (skipped)" in result.output


@pytest.mark.slow
def test_train_face_without_a_learning_rate(tmp_path: Path) -> None:
    """The README's `train --tower face` (no --learning-rate) trains at 1e-3; it used to fail
    with a KeyError: the face kind has no architecture to take a default rate from."""
    people = tmp_path / "people"
    for person in range(1, 9):
        (people / f"s{person}").mkdir(parents=True)
        for n in range(1, 5):
            shutil.copy(ORL / f"s{person}" / f"{n}.pgm", people / f"s{person}" / f"{n}.pgm")
    out = tmp_path / "model"
    result = _run(
        "train", "--data", str(people), "--tower", "face", "--on-no-face", "whole-image",
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8", "--head-epochs", "1",
        "--quiet", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["kind"], config["training"]["learning_rate"]) == ("face", 1e-3)
