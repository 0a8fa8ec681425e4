"""Retraining an image model from the review page: `train --pairs` over the image catalogue the
server was started with (`serve --catalog`), with the served model's size, inversion and
architecture; labels come from the drawings' real characters."""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path

import pytest

from simsearch.errors import ConfigError
from simsearch.server.retrain import train_command
from tests.server.test_review_images import _client, image_review, write_drawings

IMAGE_CONFIG = {
    "kind": "image",
    "inputs": {"image_size": [28, 28], "channels": 1},
    "tower_settings": {"architecture": "light", "invert": True, "filters": 8, "embedding_dim": 16},
}


def test_retrain_command_of_an_image_model(tmp_path: Path) -> None:
    folder = tmp_path / "drawings"
    command = train_command(IMAGE_CONFIG, [folder], tmp_path / "p.csv", tmp_path / "m", epochs=2)
    assert command[1:4] == ["-m", "simsearch", "train"]
    assert " ".join(command[4:]) == (
        f"--pairs {tmp_path / 'p.csv'} --catalog {folder} --tower image --image-size 28 --invert "
        f"--architecture light --filters 8 --out {tmp_path / 'm'} --epochs 2"
    )


@pytest.mark.parametrize(
    "inputs,settings,expected",
    [
        ({"image_size": [28, 28]}, {"architecture": "pixels", "embedding_dim": 784}, ["--image-size", "28"]),
        ({"image_size": [36, 72]}, {"architecture": "koch"}, ["--architecture", "koch"]),
        ({}, {}, []),
    ],
    ids=["pixels-baseline-kept", "not-square", "no-settings"],
)
def test_retrain_image_options(
    tmp_path: Path, inputs: dict[str, object], settings: dict[str, object], expected: list[str]
) -> None:
    config = {"kind": "image", "inputs": inputs, "tower_settings": settings}
    command = train_command(config, [tmp_path], tmp_path / "p.csv", tmp_path / "m")
    start = command.index("image") + 1
    assert command[start : command.index("--out")] == expected


@pytest.mark.parametrize(
    "config,catalogs,message",
    [
        ({**IMAGE_CONFIG, "tower_settings": {"architecture": "linear"}}, 1, "architecture='linear'"),
        (IMAGE_CONFIG, 2, "Expected one image catalogue (serve --catalog) to retrain. Received: 2"),
        (IMAGE_CONFIG, 0, "Expected the catalogue the index was built from"),
        ({"kind": "face"}, 1, "Expected a text, record or image model"),
    ],
    ids=["linear", "two-catalogues", "no-catalogue", "face"],
)
def test_retrain_refusals(tmp_path: Path, config: dict[str, object], catalogs: int, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        train_command(config, [tmp_path] * catalogs, tmp_path / "p.csv", tmp_path / "m")


def _character_labels(ids: list[str], same: int, different: int) -> list[tuple[str, str, str]]:
    """Pairs of drawings labelled by their real character (the class folder of the id)."""
    both = list(itertools.combinations(sorted(ids), 2))
    alike = [(a, b, "same") for a, b in both if Path(a).parent == Path(b).parent][:same]
    unlike = [(a, b, "different") for a, b in both if Path(a).parent != Path(b).parent][:different]
    return alike + unlike


@pytest.mark.slow
def test_retrain_an_image_model_through_the_api(model_dir: Path, tmp_path: Path) -> None:
    folder = write_drawings(tmp_path / "catalogue")
    index, pairs = image_review(model_dir, folder, tmp_path)
    ids = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    with _client(index, pairs, folder, allow_retrain=True) as client:
        for left, right, label in _character_labels(ids, same=6, different=6):
            client.app.state.review.log.add(left, right, label)  # type: ignore[attr-defined]
        started = client.post("/review/retrain", json={"epochs": 1})
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 300
        while (status := client.get("/review/retrain").json())["state"] == "running":
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
    assert status["state"] == "succeeded", status["log_tail"]
    run = Path(status["run"])
    command = (run / "train.log").read_text().splitlines()[0]
    assert f"--catalog {folder.resolve()} --tower image --image-size 28" in command
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["kind"] == "image" and config["inputs"]["image_size"] == [28, 28]
    assert config["pairs"] == {"train": 12, "validation": 0, "cross_validated": 12}  # < 500 pairs
    assert status["next_steps"][0].startswith(f"simsearch build-index --model {run / 'model'}")
