"""Searches that need no model load none: `query --id` and `serve` (by vector and by id) of an
index whose re-ranking is off never import TensorFlow or Keras, checked in a fresh process after
the command's work; the model still loads when a search needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import RecordIndex

REPO = Path(__file__).resolve().parents[2]

_QUERY = """
import json, sys
from simsearch.cli import cli
cli(["query", "--index", sys.argv[1], "--id", "1", "-k", "3", "--json"], standalone_mode=False)
print(json.dumps({"loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""

_SERVE = """
import json, sys
from starlette.testclient import TestClient
import simsearch.cli.serve as serve
from simsearch.cli import cli

def run(app, sock, verbose):
    sock.close()
    with TestClient(app) as client:
        vector = client.get("/items", params={"id": "2", "vectors": True}).json()["items"][0]["vector"]
        for _ in range(3):  # the first search learns the cost, the others take the fast path
            by_vector = client.post("/search", json={"vectors": [vector], "k": 3}).json()
        by_id = client.post("/search", json={"ids": [2], "k": 3}).json()
        before = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        by_item = client.post("/search", json={"items": [{"name": "sony tv", "price": 399}], "k": 3})
        after = "tensorflow" in sys.modules
    print(json.dumps({"loaded": before, "by_vector": by_vector, "by_id": by_id,
                      "item_status": by_item.status_code, "item_loads_it": after}))

serve._run = run
cli(["serve", "--index", sys.argv[1], "--port", "0"], standalone_mode=False)
"""


def _run(script: str, index: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", script, str(index)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_query_by_id_loads_no_tensorflow(record_index: RecordIndex) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", _QUERY, str(record_index.index_dir)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"loaded": []}
    hits = json.loads(lines[0])
    assert hits["query"] == 1 and len(hits["hits"]) == 3 and 1 not in [h["id"] for h in hits["hits"]]


def test_serve_searches_by_vector_and_id_without_tensorflow(record_index: RecordIndex) -> None:
    result = _run(_SERVE, record_index.index_dir)
    assert result["loaded"] == []
    assert result["by_vector"]["results"][0]["hits"][0]["id"] == 2  # the item itself, distance 0
    assert len(result["by_id"]["results"][0]["hits"]) == 3
    assert 2 not in [h["id"] for h in result["by_id"]["results"][0]["hits"]]
    assert result["item_status"] == 200 and result["item_loads_it"]  # a raw item still works
