"""Who may write through the review pages, against real `simsearch serve --review` processes:
with `--api-key`, every review write (label, undo, group mark, retrain) needs the key, as the
index writes do, and a refused one leaves the labels file as it was; labels are taken only for
the pairs offered; a server with neither a key nor `--allow-retrain` never starts a training
process. The pages' own JavaScript (`review_common.js`, under Node) asks for the key once and
sends it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simsearch.data.items import Items

from .conftest import API_KEY, REPO, Server, copy_index
from .schema_fuzz import write_review_pairs

N_PAIRS = 25
RIGHT = {"X-API-Key": API_KEY}
WRONG = {"X-API-Key": "wrong-key-0123456789"}


def _review_server(built_index: Path, catalog: Items, root: Path, *args: str) -> Server:
    pairs = write_review_pairs(catalog.ids[: N_PAIRS + 1].tolist(), root / "pairs.jsonl")
    from simsearch.datasets import omniglot_sample

    options = ("--review", str(pairs), "--labels", str(root / "labels.jsonl"))
    options += ("--catalog", str(omniglot_sample("evaluation")))
    options += ("--retrain-dir", str(root / "retrain"), *args)
    return Server(copy_index(built_index, root / "index"), *options, log=root / "server.log").start()


@pytest.fixture(scope="module")
def keyed(built_index: Path, catalog: Items, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = _review_server(built_index, catalog, tmp_path_factory.mktemp("keyed"), "--api-key", API_KEY)
    yield running
    running.stop()
    assert "Traceback" not in running.log.read_text(errors="replace")


def _labels(server: Server) -> bytes:
    path = server.index.parent / "labels.jsonl"
    return path.read_bytes() if path.exists() else b""


def _offered(client: httpx.Client) -> dict[str, Any]:
    pair = client.get("/review/next").json()["pair"]
    return {"left_id": pair["left_id"], "right_id": pair["right_id"], "label": "same"}


def _member(client: httpx.Client) -> dict[str, Any]:
    group = client.get("/review/groups/list", params={"limit": 1}).json()["groups"][0]
    other = next(m["id"] for m in group["members"] if not m["centre"])
    return {"group": group["group"], "id": other, "belongs": False}


# route, the body it is sent (from the review's state), its answer with the right key
WRITES: list[tuple[str, Callable[[httpx.Client], Any], int]] = [
    ("/review/label", _offered, 200),
    ("/review/undo", lambda _: None, 200),
    ("/review/groups/member", _member, 200),
    ("/review/retrain", lambda _: {"epochs": 1}, 400),  # the key is taken; too few labels to train
]


@pytest.mark.parametrize(("path", "body", "status"), WRITES, ids=[w[0].rsplit("/", 1)[1] for w in WRITES])
def test_review_writes_need_the_key(
    keyed: Server, path: str, body: Callable[[httpx.Client], Any], status: int
) -> None:
    with keyed.client() as client:
        sent = body(client)
        before = _labels(keyed)
        for headers, received in (({}, "none"), (WRONG, "a wrong key")):
            refused = client.post(path, json=sent, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["detail"] == f"Expected a valid X-API-Key header. Received: {received}"
            assert refused.headers["www-authenticate"] == "ApiKey"
        assert _labels(keyed) == before  # nothing written
        taken = client.post(path, json=sent, headers=RIGHT)
    assert taken.status_code == status, taken.text
    if path == "/review/retrain":
        assert "Expected at least 5 matching" in taken.json()["detail"]
        assert not (keyed.index.parent / "retrain").exists()  # no run started
    else:
        assert _labels(keyed) != before  # on disk when acknowledged


def test_labels_only_for_the_pairs_offered(keyed: Server, catalog: Items) -> None:
    ids = catalog.ids.tolist()
    with keyed.client(**RIGHT) as client:
        offered = _offered(client)
        before = _labels(keyed)
        for left, right in [(ids[0], ids[2]), (ids[0], "not/an/item.png"), (ids[40], ids[41])]:
            body = {"left_id": left, "right_id": right, "label": "same"}
            response = client.post("/review/label", json=body)
            assert response.status_code == 404, response.text
            assert response.json()["detail"].startswith("Expected a candidate pair of the review")
        assert _labels(keyed) == before
        # the offered pair either way round, kept in the file's order
        swapped = {**offered, "left_id": offered["right_id"], "right_id": offered["left_id"]}
        assert client.post("/review/label", json=swapped).status_code == 200
    last = json.loads(_labels(keyed).splitlines()[-1])
    assert (last["left_id"], last["right_id"]) == (offered["left_id"], offered["right_id"])


def test_no_training_process_without_a_key_or_allow_retrain(
    built_index: Path, catalog: Items, tmp_path: Path
) -> None:
    """The app of `serve --review` with neither --api-key nor --allow-retrain (in this process:
    a second server process costs its start)."""
    from fastapi.testclient import TestClient

    from simsearch.datasets import omniglot_sample
    from simsearch.engine import SearchEngine
    from simsearch.server import IndexService, ServerConfig, create_app
    from simsearch.server.review import open_review

    engine = SearchEngine.load(built_index)
    pairs = write_review_pairs(catalog.ids[: N_PAIRS + 1].tolist(), tmp_path / "pairs.jsonl")
    catalogs = [omniglot_sample("evaluation")]
    review = open_review(engine, pairs, catalogs=catalogs, retrain_dir=tmp_path / "runs")
    with TestClient(create_app(IndexService(engine, ServerConfig()), review)) as client:
        for n in range(N_PAIRS - 1):  # a keyless server takes labels: enough to train on
            body = {**_offered(client), "label": "same" if n % 2 else "different"}
            assert client.post("/review/label", json=body).status_code == 200
        refused = client.post("/review/retrain", json={})
        info = client.get("/review/info").json()
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "Expected a server started with --api-key or --allow-retrain to start a training process. "
        "Received: a server with neither"
    )
    assert not (tmp_path / "runs").exists()
    assert info["retrain_note"] and info["api_key"] is False


NODE = shutil.which("node")
# review_common.js's `call` against the server, with the browser's globals stubbed: fetch with
# relative paths, sessionStorage, and window.prompt answering the key (counted).
_PAGE = """
const base = process.argv[2], answers = JSON.parse(process.argv[3]);
const store = new Map(); const prompts = [];
globalThis.sessionStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
globalThis.window = { prompt: (text) => { prompts.push(text); return answers.shift() ?? null; } };
const realFetch = fetch; globalThis.fetch = (path, options) => realFetch(base + path, options);
%s
(async () => {
  const log = [];
  const next = await call("GET", "/review/next");
  const pair = { left_id: next.pair.left_id, right_id: next.pair.right_id, label: "unsure" };
  for (const [method, path, body] of [["POST", "/review/label", pair], ["POST", "/review/undo"]]) {
    try { await call(method, path, body); log.push([path, "ok", prompts.length]); }
    catch (error) { log.push([path, error.message, prompts.length]); }
  }
  console.log(JSON.stringify(log));
})();
"""


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([API_KEY], [["/review/label", "ok", 1], ["/review/undo", "ok", 1]]),  # asked once
        (["wrong-key-0123456789", API_KEY], [["/review/label", "401", 1], ["/review/undo", "ok", 2]]),
        ([], [["/review/label", "401", 1], ["/review/undo", "401", 2]]),  # cancelled
    ],
    ids=["asked-once", "wrong-then-right", "cancelled"],
)
def test_the_page_asks_for_the_key_once_and_sends_it(
    keyed: Server, tmp_path: Path, answers: list[str], expected: list[list[Any]]
) -> None:
    if NODE is None:
        pytest.skip("Node.js not installed (apt-get install nodejs)")
    common = (REPO / "simsearch" / "server" / "review_common.js").read_text()
    script = tmp_path / "page.js"
    script.write_text(_PAGE % common)
    before = _labels(keyed)
    done = subprocess.run(
        [NODE, str(script), keyed.url, json.dumps(answers)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    assert [[path, "ok" if status == "ok" else status.split()[1], n] for path, status, n in log] == expected
    written = _labels(keyed)[len(before) :].decode().splitlines()
    assert len(written) == sum(status == "ok" for _, status, _ in log)  # a label and its undo, or none


def test_a_body_too_deep_to_parse_is_a_documented_400(keyed: Server) -> None:
    """Found by bench_schema.py: FastAPI answers 400 to JSON nested past Python's recursion limit."""
    deep = "[" * 100_000 + "]" * 100_000
    with keyed.client(**RIGHT) as client:
        response = client.post("/review/label", content=deep, headers={"content-type": "application/json"})
        documented = client.get("/openapi.json").json()["paths"]["/review/label"]["post"]["responses"]
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Expected a JSON body that can be parsed.")
    assert "400" in documented
