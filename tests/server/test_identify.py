"""POST /identify of a real `simsearch serve` over a face index from `simsearch enrol`: the
same answers as `simsearch identify` for the same photos, and a clear 400 for a photo without
a face. Needs dlib (`make install`) and `../shared/data/faces`."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.cli import cli

from .conftest import Server

# The `face_model` fixture skips without dlib or ORL.
ORL = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "att_orl_faces"
PROBES = [ORL / p / "4.pgm" for p in ("s1", "s3", "s9")]


@pytest.fixture(scope="module")
def face_server(tmp_path_factory: pytest.TempPathFactory, face_model: Callable[..., Path]) -> Any:
    root = tmp_path_factory.mktemp("faces")
    model = face_model(root / "model", on_no_face="error")
    index = root / "index"
    for person in ("s1", "s3"):
        args = ["--model", str(model), "--index", str(index), "--person", person, str(ORL / person / "1.pgm")]
        result = CliRunner().invoke(cli, ["enrol", *args])
        assert result.exit_code == 0, result.output
    running = Server(index, log=root / "server.log").start()
    yield running, index
    running.stop()


def _photo(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_identify_answers_as_the_cli(face_server: Any) -> None:
    server, index = face_server
    result = CliRunner().invoke(cli, ["identify", "--index", str(index), "--json", *map(str, PROBES)])
    assert result.exit_code == 0, result.output
    expected = [json.loads(line) for line in result.output.strip().splitlines()]
    with server.client() as client:
        response = client.post("/identify", json={"items": [_photo(p) for p in PROBES]})
        assert response.status_code == 200, response.text
        answers = response.json()["results"]
        assert [a["identity"] for a in answers] == ["s1", "s3", "unknown"]
        for answer, cli_answer in zip(answers, expected, strict=True):
            assert answer["identity"] == cli_answer["identity"]
            assert answer["distance"] == pytest.approx(cli_answer["distance"], abs=1e-4)
            assert answer["threshold"] == pytest.approx(cli_answer["threshold"])
        strict = client.post("/identify", json={"items": [_photo(PROBES[0])], "threshold": 0.01}).json()
        assert strict["results"][0]["identity"] == "unknown"


def test_a_photo_without_a_face_is_a_400(face_server: Any) -> None:
    from PIL import Image

    server, _ = face_server
    buffer = io.BytesIO()
    Image.fromarray(np.full((112, 92), 128, np.uint8)).save(buffer, format="PNG")
    with server.client() as client:
        response = client.post("/identify", json={"items": [base64.b64encode(buffer.getvalue()).decode()]})
        assert response.status_code == 400
        assert response.json()["detail"].startswith("Expected a face in photo 0. Received: none found")
        response = client.post("/identify", json={"items": ["bm90IGFuIGltYWdl"]})
        assert response.status_code == 400 and "Expected a readable image file" in response.json()["detail"]
