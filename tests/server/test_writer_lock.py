"""A server with writes is its index's one writer: it puts back an index a killed save left as
`.<name>.old`, a second writer (CLI or server) cannot slip in while it runs, and CLI writers that
waited for it lose nothing, nor does it (real `simsearch` processes throughout)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from simsearch.index import load_index
from tests.conftest import RecordIndex
from tests.server.conftest import REPO, Server

DIM = 16  # the record model's


def _copy(record_index: RecordIndex, tmp_path: Path) -> Path:
    return Path(shutil.copytree(record_index.index_dir, tmp_path / "index"))


def _simsearch(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "simsearch", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err
        )


def test_a_writing_server_heals_the_index_and_keeps_other_writers_out(
    record_index: RecordIndex, tmp_path: Path
) -> None:
    target = _copy(record_index, tmp_path)
    os.replace(target, tmp_path / ".index.old")  # a save killed between its renames
    server = Server(target, "--allow-writes", log=tmp_path / "server.log").start()
    try:
        assert target.is_dir() and not (tmp_path / ".index.old").exists()
        assert server.log.read_text().count("Restoring") == 1
        with server.client() as client:
            response = client.post("/items", json={"ids": [500], "vectors": [[0.5] * DIM]})
            assert response.status_code in (200, 201), response.text
        result = CliRunner().invoke(cli, ["delete", "--index", str(target), "--id", "2", "--no-wait"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"Received: pid {server_pid(server)} (simsearch " in result.output
        second = _simsearch(
            "serve", "--index", str(target), "--allow-writes", "--port", "0", log=tmp_path / "2.log"
        )
        second.communicate(timeout=120)  # closes its pipe too
        assert second.returncode == 1
        lines = (tmp_path / "2.log").read_text().strip().splitlines()
        assert lines[-1].startswith(f"Error: Expected no other writer of '{target}'")
        assert "Traceback" not in "\n".join(lines)
    finally:
        server.stop()
    index = load_index(target)
    assert 500 in index and 2 in index and len(index) == 9


@pytest.mark.slow
def test_concurrent_cli_writers_and_a_writing_server_lose_nothing(
    record_index: RecordIndex, tmp_path: Path
) -> None:
    """Two `add`s and one `delete` start while a server takes writes over HTTP; they wait for it
    (the audit's lost writes: each ran load -> update -> save over the others), then write one
    at a time once it stops. Every acknowledged write is in the index afterwards."""
    target = _copy(record_index, tmp_path)
    server = Server(
        target, "--allow-writes", "--checkpoint-bytes", "2000", log=tmp_path / "server.log"
    ).start()
    catalogs = []
    for n in range(2):
        path = tmp_path / f"more{n}.csv"
        path.write_text(
            "id,name,price\n" + "".join(f"{1000 * (n + 1) + i},item {n} {i},{i}\n" for i in range(5))
        )
        catalogs.append(path)
    writers = [
        _simsearch("add", "--index", str(target), "--catalog", str(c), log=tmp_path / f"add{n}.log")
        for n, c in enumerate(catalogs)
    ]
    writers.append(_simsearch("delete", "--index", str(target), "--id", "3", log=tmp_path / "delete.log"))
    acknowledged, deleted = _write_over_http(server, seconds=8.0)
    assert all(w.poll() is None for w in writers)  # all still waiting for the server
    server.stop()
    outputs = [w.communicate(timeout=300)[0].decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], outputs
    assert outputs[0].startswith("Added 5 items") and outputs[2].startswith("Deleted 1 items")
    logs = [(tmp_path / name).read_text() for name in ("add0.log", "add1.log", "delete.log")]
    assert all(f"Waiting for pid {server_pid(server)}" in log for log in logs), logs
    index = load_index(target)
    for item, vector in acknowledged.items():
        assert item in index
        np.testing.assert_array_equal(index.get([item])[0], np.asarray(vector, np.float32))
    assert not any(item in index for item in deleted)
    assert all(1000 + i in index and 2000 + i in index for i in range(5))
    assert 3 not in index and len(index) == 8 - 1 + 10 + len(acknowledged)


def server_pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


def _write_over_http(server: Server, seconds: float) -> tuple[dict[int, list[float]], set[int]]:
    """Add items (and delete some of them again) over HTTP for `seconds`; returns the adds still
    standing and the deletes, each acknowledged."""
    rng = random.Random(0)
    kept: dict[int, list[float]] = {}
    deleted: set[int] = set()
    stop = time.monotonic() + seconds
    with server.client() as client:
        item = 5000
        while time.monotonic() < stop:
            if kept and rng.random() < 0.25:
                gone = rng.choice(sorted(kept))
                assert client.post("/items/delete", json={"ids": [gone]}).status_code == 200
                del kept[gone]
                deleted.add(gone)
                continue
            vector = [float(np.float32(rng.uniform(-1, 1))) for _ in range(DIM)]
            response = client.post("/items", json={"ids": [item], "vectors": [vector]})
            assert response.status_code in (200, 201), response.text
            kept[item] = vector
            item += 1
    return kept, deleted
