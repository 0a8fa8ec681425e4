"""The CLI's writers of an index directory, one at a time (`add` waits for the holder of the
writer lock and says who it is, `--no-wait` fails with one line), and every command opening an
index that a save killed between its two renames left as `.<name>.old`."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from simsearch.index import load_index
from tests.conftest import RecordIndex
from tests.index.test_lock import Holder


def _copy(record_index: RecordIndex, tmp_path: Path) -> Path:
    return Path(shutil.copytree(record_index.index_dir, tmp_path / "index"))


def _catalog(tmp_path: Path, name: str, rows: dict[int, str]) -> Path:
    path = tmp_path / name
    path.write_text("id,name,price\n" + "".join(f"{i},{text},{10 + i}\n" for i, text in rows.items()))
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


# command -> (its arguments after --index, a check of its output and of the index afterwards)
def _commands(tmp_path: Path) -> dict[str, list[str]]:
    more = _catalog(tmp_path, "more.csv", {100: "sony radio", 101: "canon lens"})
    labelled = tmp_path / "probes.csv"
    labelled.write_text("id,name,price,label\n0,sony turntable,99,a\n3,canon camera,249,b\n")
    return {
        "query": ["query", "--id", "0", "-k", "3", "--json"],
        "add": ["add", "--catalog", str(more)],
        "delete": ["delete", "--id", "1"],
        "dedup": ["dedup", "--out", str(tmp_path / "pairs.csv"), "--no-rerank", "--threshold", "2"],
        "match": ["match", "--catalog", str(more), "--out", str(tmp_path / "m.csv"), "--no-rerank"],
        "evaluate": ["evaluate", "--data", str(labelled), "--threshold", "2", "--no-plots", "--json"],
    }


EXPECTED_COUNT = {"add": 10, "delete": 7}


@pytest.mark.parametrize("command", ["query", "add", "delete", "dedup", "match", "evaluate"])
def test_each_command_opens_an_index_left_between_the_renames(
    command: str, record_index: RecordIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = _copy(record_index, tmp_path)
    os.replace(target, tmp_path / ".index.old")  # what a kill after the first rename leaves
    name, *args = _commands(tmp_path)[command]
    with caplog.at_level(logging.WARNING):
        code, output = _invoke(name, "--index", str(target), *args)
    assert code == 0, output
    assert target.is_dir() and not (tmp_path / ".index.old").exists()
    assert caplog.text.count("Restoring") == 1 and "does not exist" not in output
    assert len(load_index(target)) == EXPECTED_COUNT.get(command, 8)
    if command == "query":
        assert len(json.loads(output.splitlines()[-1])["hits"]) == 3


def test_no_wait_fails_with_one_line_naming_the_writer(record_index: RecordIndex, tmp_path: Path) -> None:
    target = _copy(record_index, tmp_path)
    holder = Holder(target)
    try:
        code, output = _invoke("delete", "--index", str(target), "--id", "1", "--no-wait")
    finally:
        holder.release()
    assert code == 1 and "Traceback" not in output
    assert output.strip().splitlines() == [
        f"Error: Expected no other writer of '{target}'. Received: pid {holder.process.pid} "
        f"(holder-test) since {output.split(' since ')[1].split(' is writing')[0]} is writing it; "
        "try again once it has finished"
    ]
    assert len(load_index(target)) == 8


def test_a_writer_waits_for_the_holder_and_says_so(
    record_index: RecordIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = _copy(record_index, tmp_path)
    holder = Holder(target)
    releaser = threading.Timer(1.5, holder.release)
    releaser.start()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        code, output = _invoke(
            "add", "--index", str(target), "--catalog", str(_catalog(tmp_path, "a.csv", {50: "x"}))
        )
    releaser.join()
    assert code == 0, output
    assert time.monotonic() - start >= 1.4
    assert f"Waiting for pid {holder.process.pid} (holder-test)" in caplog.text
    assert 50 in load_index(target)
