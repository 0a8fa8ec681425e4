"""Damaged model directories through every command that loads a model: one clean line naming the
file and what is wrong, exit code 1, no traceback (and `serve` never starts serving).

The model is `tests/conftest.py`'s untrained record model and its index, copied into `tmp_path`
before it is damaged; a second one of another width gives the "swapped in" tower and head.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

import simsearch.cli.serve as serve_command
from simsearch.cli import cli
from simsearch.models import SiameseModel, build_head_model
from simsearch.models.towers import RecordTowerConfig, build_record_tower
from tests.conftest import RecordIndex

RECORD = json.dumps({"name": "sony tv", "price": 399})


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory, record_index: RecordIndex) -> Path:
    """A record model of width 8 (the index's is 16): its files do not belong to the other."""
    from simsearch.data.loaders import load_table

    items = load_table(record_index.catalog, fields=["name", "price"])
    tower = build_record_tower(
        items.fields, RecordTowerConfig(text_fields=("name",), numeric_fields=("price",), embedding_dim=8)
    )
    config = {"kind": "record", "inputs": {"text_fields": ["name"], "numeric_fields": ["price"]}}
    path = tmp_path_factory.mktemp("other") / "model"
    SiameseModel(tower, build_head_model(8), {**config, "dim": 8, "metric": "cosine"}).save(path)
    return path


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x40  # inside the weights, past the archive's headers
    path.write_bytes(bytes(data))


def _not_utf8(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:10] + b"\xff\xfe" + data[10:])


# case -> (damage(model_dir, other_model_dir), the file named, what the line says)
DAMAGE: dict[str, tuple[Callable[[Path, Path], None], str, str]] = {
    "history-truncated": (lambda m, o: _cut(m / "history.json"), "history.json", "Expected JSON"),
    "history-not-utf8": (lambda m, o: _not_utf8(m / "history.json"), "history.json", "not UTF-8"),
    "config-truncated": (lambda m, o: _cut(m / "config.json"), "config.json", "ends early"),
    "config-not-utf8": (lambda m, o: _not_utf8(m / "config.json"), "config.json", "not UTF-8"),
    "config-not-an-object": (
        lambda m, o: (m / "config.json").write_text("[16]"),
        "config.json",
        "JSON object",
    ),
    "tower-missing": (lambda m, o: (m / "tower.keras").unlink(), "tower.keras", "Missing"),
    "head-missing": (lambda m, o: (m / "head.keras").unlink(), "head.keras", "Missing"),
    "tower-truncated": (lambda m, o: _cut(m / "tower.keras"), "tower.keras", "not a zip file"),
    "head-truncated": (lambda m, o: _cut(m / "head.keras"), "head.keras", "not a zip file"),
    "tower-bit-flipped": (lambda m, o: _flip(m / "tower.keras"), "tower.keras", "CRC-32"),
    "head-bit-flipped": (lambda m, o: _flip(m / "head.keras"), "head.keras", "CRC-32"),
    "tower-not-a-zip": (lambda m, o: (m / "tower.keras").write_text("not a model"), "tower.keras", "zip"),
    "tower-of-another-model": (
        lambda m, o: shutil.copy(o / "tower.keras", m / "tower.keras"),
        "tower.keras",
        "Expected a tower of output (n, 16)",
    ),
    "head-of-another-model": (
        lambda m, o: shutil.copy(o / "head.keras", m / "head.keras"),
        "head.keras",
        "shape (None, 16)",
    ),
}


class Served(Exception):
    """Raised in place of running the server: the model was accepted."""


def _commands(root: Path, model: Path) -> dict[str, list[str]]:
    catalog, index = root / "products.csv", root / "index"
    pairs = root / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n0,1,1\n1,2,0\n3,4,1\n5,6,1\n0,7,0\n2,3,0\n")
    return {
        "compare": ["compare", "--model", str(model), RECORD, RECORD],
        "query": ["query", "--index", str(index), "--model", str(model), "--record", RECORD],
        "evaluate": ["evaluate", "--model", str(model), "--pairs", str(pairs), "--catalog", str(catalog)],
        "build-index": ["build-index", "--model", str(model), "--catalog", str(catalog),
                        "--index", str(root / "i2")],
        "serve": ["serve", "--index", str(index), "--model", str(model), "--port", "0"],
        "dedup": ["dedup", "--index", str(index), "--model", str(model), "--out", str(root / "d.csv"),
                  "--rerank"],
        "match": ["match", "--index", str(index), "--catalog", str(catalog), "--model", str(model),
                  "--out", str(root / "m.csv"), "--rerank"],
        "train-reranker": ["train-reranker", "--pairs", str(pairs), "--valid-pairs", str(pairs),
                           "--catalog", str(catalog), "--model", str(model), "--out", str(root / "r")],
    }  # fmt: skip


Damaged = Callable[[str], tuple[Path, Path]]


@pytest.fixture()
def damaged(tmp_path: Path, record_index: RecordIndex, other_model: Path, monitor_serve: None) -> Damaged:
    """`damaged(case)`: `(root, model_dir)`, a copy of the record model and its index (and
    catalogue) with the case's damage done to the model."""

    def make(case: str) -> tuple[Path, Path]:
        root = tmp_path / "copy"
        shutil.copytree(record_index.model_dir.parent, root)
        DAMAGE[case][0](root / "model", other_model)
        return root, root / "model"

    return make


@pytest.fixture()
def monitor_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(app: Any, sock: socket.socket, verbose: int) -> None:
        sock.close()
        with TestClient(app):  # the app's lifespan: the service starts and closes
            pass
        raise Served("the server started")

    monkeypatch.setattr(serve_command, "_run", run)


def _one_clean_line(args: list[str], named: str, says: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert not isinstance(result.exception, Served), "serve started on a damaged model"
    assert result.exit_code == 1, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert lines[0].startswith("Error: Expected"), lines[0]
    assert named in lines[0] and says in lines[0], lines[0]


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("command", ["compare", "query", "serve"])
def test_damaged_model_gives_one_clean_line(damaged: Damaged, case: str, command: str) -> None:
    root, model = damaged(case)
    named, says = DAMAGE[case][1], DAMAGE[case][2]
    _one_clean_line(_commands(root, model)[command], named, says)


@pytest.mark.parametrize("case", ["history-truncated", "tower-bit-flipped", "tower-of-another-model"])
@pytest.mark.parametrize("command", ["evaluate", "build-index", "dedup", "match", "train-reranker"])
def test_every_command_that_loads_a_model_names_the_damage(damaged: Damaged, case: str, command: str) -> None:
    root, model = damaged(case)
    _one_clean_line(_commands(root, model)[command], DAMAGE[case][1], DAMAGE[case][2])


def test_the_undamaged_copy_serves(damaged: Damaged) -> None:
    """The control: the same copy with its history mended gets as far as serving."""
    root, model = damaged("history-truncated")
    (model / "history.json").write_text("{}")
    result = CliRunner().invoke(cli, _commands(root, model)["serve"])
    assert isinstance(result.exception, Served), result.output
