"""The review page's groups view, catalogue images and retraining through the HTTP API
(FastAPI's TestClient over `open_review`): groups paged and ordered, members marked out of their
group as durable labels, images served only for catalogue items, retraining refused on too few
labels, run one at a time in a subprocess, and never into the served model."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simsearch.dedup import DuplicatePairs, write_groups, write_pairs
from simsearch.server.labels import LabelLog
from tests.conftest import RecordIndex

# Hand-made candidates over tests.conftest.PRODUCTS (ids 0-7): two TVs, two cameras, two cases,
# and a loose pair between a TV and the turntable (both Sony).
PAIRS = DuplicatePairs(
    np.array([1, 3, 5, 0, 2]), np.array([2, 4, 6, 1, 0]), np.array([0.05, 0.10, 0.31, 0.2, 0.5], np.float32)
)


def _client(engine: Any, pairs: Path, **options: Any) -> TestClient:
    from simsearch.server import IndexService, ServerConfig, create_app
    from simsearch.server.review import open_review

    review = open_review(engine, pairs, **options)
    return TestClient(create_app(IndexService(engine, ServerConfig()), review))


@pytest.fixture(scope="module")
def record_engine(record_index: RecordIndex) -> Any:
    from simsearch.engine import SearchEngine

    return SearchEngine.load(record_index.index_dir)


@pytest.fixture()
def pairs_file(tmp_path: Path) -> Path:
    return write_pairs(PAIRS, tmp_path / "pairs.csv")


@pytest.fixture()
def client(record_engine: Any, pairs_file: Path, record_index: RecordIndex) -> Iterator[TestClient]:
    with _client(record_engine, pairs_file, catalogs=[record_index.catalog], allow_retrain=True) as client:
        yield client


def test_groups_from_the_pairs_paged_and_ordered(client: TestClient) -> None:
    page = client.get("/review/groups/list", params={"limit": 2}).json()
    # average linkage cut at the loosest pair (0.5): {0, 1, 2} (0-1 and 0-2 and 1-2 pairs), {3, 4}, {5, 6}
    assert page["total"] == 3
    assert [g["size"] for g in page["groups"]] == [3, 2]  # largest first
    first = page["groups"][0]
    assert sorted(m["id"] for m in first["members"]) == [0, 1, 2]
    assert first["centre"] in (0, 1, 2) and sum(m["centre"] for m in first["members"]) == 1
    assert first["members"][0]["fields"]["name"] == "sony turntable"  # the stored fields
    rest = client.get("/review/groups/list", params={"offset": 2, "limit": 2}).json()
    assert [g["size"] for g in rest["groups"]] == [2]
    # threshold 0.3 (the record model's): the cases' pair at 0.31 is the least certain
    unsure = client.get("/review/groups/list", params={"order": "uncertain"}).json()["groups"]
    assert sorted(m["id"] for m in unsure[0]["members"]) == [5, 6]
    one = client.get(f"/review/groups/{first['group']}", params={"offset": 1, "limit": 1}).json()
    assert len(one["members"]) == 1 and one["size"] == 3


def test_mark_a_member_out_of_its_group(client: TestClient, tmp_path: Path) -> None:
    group = client.get("/review/groups/list").json()["groups"][0]
    centre = group["centre"]
    other = next(m["id"] for m in group["members"] if not m["centre"])
    marked = client.post("/review/groups/member", json={"group": group["group"], "id": other})
    assert marked.status_code == 200 and marked.json()["label"] == "different"
    assert LabelLog(tmp_path / "pairs.labels.jsonl").labels == {(centre, other): "different"}  # on disk
    again = client.get(f"/review/groups/{group['group']}").json()
    assert {m["id"]: m["label"] for m in again["members"]}[other] == "different"
    back = client.post(
        "/review/groups/member", json={"group": group["group"], "id": str(other), "belongs": True}
    )
    assert back.json()["label"] == "same"  # the id as text is the index's int id
    assert client.get("/review/export").text.splitlines()[1:] == [f"{centre},{other},1"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"group": 999, "id": 1}, 404, "Expected a group of two or more items. Received: group 999"),
        ({"group": "centre", "id": 1}, 422, "group"),
    ],
    ids=["unknown-group", "not-an-int"],
)
def test_mark_errors(client: TestClient, body: dict[str, Any], status: int, text: str) -> None:
    response = client.post("/review/groups/member", json=body)
    assert response.status_code == status and text in response.json()["detail"]


def test_mark_the_centre_or_a_stranger_is_refused(client: TestClient) -> None:
    group = client.get("/review/groups/list").json()["groups"][0]
    centre = client.post("/review/groups/member", json={"group": group["group"], "id": group["centre"]})
    assert centre.status_code == 400 and "other than the group's centre" in centre.json()["detail"]
    stranger = client.post("/review/groups/member", json={"group": group["group"], "id": 7})
    assert stranger.status_code == 404 and "Expected a member of group" in stranger.json()["detail"]


def test_groups_from_a_dedup_groups_file(record_engine: Any, pairs_file: Path, tmp_path: Path) -> None:
    groups = write_groups(list(range(8)), [0, 0, 0, 0, 1, 1, 2, 3], tmp_path / "groups.csv")
    with _client(record_engine, pairs_file, groups=groups) as client:
        page = client.get("/review/groups/list").json()
        info = client.get("/review/info").json()
    assert [g["size"] for g in page["groups"]] == [4, 2]
    assert info["groups"] == 2 and info["kind"] == "record" and info["images"] is False


def test_groups_view_of_a_match_output_says_why_not(record_engine: Any, tmp_path: Path) -> None:
    match = write_pairs(
        DuplicatePairs(np.array([1]), np.array([100]), np.array([0.1], np.float32)), tmp_path / "m.csv"
    )
    with _client(record_engine, match) as client:
        response = client.get("/review/groups/list")
        note = client.get("/review/info").json()["groups_note"]
    assert response.status_code == 400 and "ids outside the index" in response.json()["detail"]
    assert "ids outside the index" in note


def test_no_images_for_a_record_catalogue(client: TestClient) -> None:
    pair = client.get("/review/next").json()["pair"]
    assert pair["left_image"] is None and pair["right_image"] is None
    response = client.get("/review/image", params={"id": "0"})
    assert response.status_code == 404 and "--catalog" in response.json()["detail"]


# ---- retraining ------------------------------------------------------------------------------


def _label(client: TestClient, same: int, different: int) -> None:
    """Labels of pairs the review did not offer, written to its log as a groups view would."""
    log = client.app.state.review.log  # type: ignore[attr-defined]
    pairs = [(a, b) for a in range(8) for b in range(a + 1, 8)]
    for n, (a, b) in enumerate(pairs[: same + different]):
        log.add(a, b, "same" if n < same else "different")


def test_retrain_refuses_too_few_labels(client: TestClient) -> None:
    _label(client, same=2, different=6)
    response = client.post("/review/retrain", json={"epochs": 1})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Expected at least 5 matching (label 1) and 5 non-matching (label 0) labelled pairs. "
        "Received: 2 matching, 6 non-matching"
    )
    assert client.get("/review/retrain").json()["state"] == "idle"


def test_retrain_needs_the_catalogue(record_engine: Any, pairs_file: Path) -> None:
    with _client(record_engine, pairs_file, allow_retrain=True) as client:
        _label(client, same=5, different=5)
        response = client.post("/review/retrain")
    assert response.status_code == 400
    assert (
        "Expected the catalogue the index was built from (serve --catalog: the table, or the image "
        "folder, .zip or .npz)"
        in response.json()["detail"]
    )


def test_retrain_runs_one_at_a_time_in_a_subprocess(
    record_engine: Any, pairs_file: Path, record_index: RecordIndex, tmp_path: Path
) -> None:
    from simsearch.server.review import open_review

    review = open_review(record_engine, pairs_file, catalogs=[record_index.catalog])
    job = review.retrain
    assert job is not None
    log = review.log
    for n in range(10):
        log.add(n, n + 100, "same" if n < 5 else "different")
    script = (
        "import time; print('Epoch 1/2', flush=True); time.sleep(1.5); print('Validation on 10 pairs: ok')"
    )
    started = job.start(log.export(), command=[sys.executable, "-c", script])
    assert started["state"] == "running"
    from simsearch.errors import BusyError

    with pytest.raises(BusyError, match="Expected no retraining in progress"):
        job.start(log.export(), command=[sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while (status := job.status())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status["state"] == "succeeded" and status["epoch"] == [1, 2]
    assert status["validation"] == "Validation on 10 pairs: ok"
    run = Path(status["run"])
    assert run.parent == tmp_path / "pairs.labels.retrain"  # beside the labels, not the model
    assert (run / "pairs.csv").read_text() == log.export()
    assert status["next_steps"][0].startswith(f"simsearch build-index --model {run / 'model'}")
    failed = job.start(log.export(), command=[sys.executable, "-c", "raise SystemExit(3)"])
    while (failed := job.status())["state"] == "running":
        time.sleep(0.1)
    assert failed["state"] == "failed" and failed["returncode"] == 3 and Path(failed["run"]) != run


def test_retrain_command_is_the_models(record_index: RecordIndex, tmp_path: Path) -> None:
    from simsearch.server.retrain import train_command

    config = {
        "kind": "record",
        "inputs": {"text_fields": ["name"], "numeric_fields": ["price"]},
        "tower_settings": {"architecture": "linear"},
    }
    command = train_command(config, [record_index.catalog], tmp_path / "p.csv", tmp_path / "m", epochs=2)
    assert command[1:4] == ["-m", "simsearch", "train"]
    text = " ".join(command[4:])
    assert f"--pairs {tmp_path / 'p.csv'} --catalog {record_index.catalog}" in text
    assert "--tower record --fields name,price" in text and "--numeric-fields price" in text
    assert "--architecture linear" in text and text.endswith("--epochs 2")
    from simsearch.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Expected a text, record or image model .* Received: kind='face'"):
        train_command({"kind": "face"}, [record_index.catalog], tmp_path / "p.csv", tmp_path / "m")


def test_retrain_folder_inside_the_served_model_is_refused(record_index: RecordIndex, tmp_path: Path) -> None:
    from simsearch.errors import ConfigError
    from simsearch.server.retrain import RetrainJob

    model = Path(shutil.copytree(record_index.model_dir, tmp_path / "model"))
    job = RetrainJob(
        model / "runs", {"kind": "record", "inputs": {"text_fields": ["name"]}}, [record_index.catalog], model
    )
    labels = "left_id,right_id,label\n" + "".join(f"{i},{i + 1},{int(i < 5)}\n" for i in range(10))
    with pytest.raises(ConfigError, match="Expected a retrain folder outside the served model"):
        job.start(labels, command=[sys.executable, "-c", "pass"])


def test_serve_review_options_need_review(record_index: RecordIndex, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from simsearch.cli import cli

    groups = write_groups([0, 1], [0, 0], tmp_path / "groups.csv")
    args = [
        "serve",
        "--index",
        str(record_index.index_dir),
        "--groups",
        str(groups),
        "--catalog",
        str(groups),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Expected --review PAIRS with --groups, --catalog. Received: no --review" in result.output


def test_allow_retrain_needs_review(record_index: RecordIndex) -> None:
    from click.testing import CliRunner

    from simsearch.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--index", str(record_index.index_dir), "--allow-retrain"])
    assert result.exit_code == 1
    assert "Expected --review PAIRS with --allow-retrain. Received: no --review" in result.output
