"""Property-based fuzzing of a real review server (`serve --api-key --review --catalog`) from its
own OpenAPI description (schemathesis, `schema_fuzz.py`): requests that follow the schema and
requests that break it, to every operation, with the API key. No response may be a server
error, and every response must be true to the schema: its status code documented, its
Content-Type documented, its body valid against the documented schema of that status.

The default run sends up to 25 requests per operation and mode (about 750 in all: 26 s on an
idle 2-core machine, 78 s at load 9); benchmarks/bench_schema.py runs the same checks at 20,000
and more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from schemathesis import GenerationMode

from simsearch.data.items import Items

from .conftest import API_KEY, SERVE_OPTIONS, Server, copy_index
from .schema_fuzz import Tally, fuzz, operations, write_review_pairs

EXAMPLES = 25
REVIEW_OPERATIONS = {
    "GET /review/next",
    "GET /review/info",
    "POST /review/label",
    "POST /review/undo",
    "GET /review/export",
    "GET /review/groups/list",
    "GET /review/groups/{group}",
    "POST /review/groups/member",
    "GET /review/image",
    "GET /review/retrain",
    "POST /review/retrain",
}


@pytest.fixture(scope="module")
def review_server(
    built_index: Path, catalog: Items, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    from simsearch.datasets import omniglot_sample

    root = tmp_path_factory.mktemp("fuzzed")
    pairs = write_review_pairs(catalog.ids[:12].tolist(), root / "pairs.jsonl")
    running = Server(
        copy_index(built_index, root / "index"),
        *SERVE_OPTIONS,
        "--review",
        str(pairs),
        "--catalog",
        str(omniglot_sample("evaluation")),
        "--retrain-dir",
        str(root / "retrain"),
        log=root / "server.log",
    ).start()
    yield running
    running.stop()
    assert "Traceback" not in running.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def all_operations(review_server: Server) -> list[Any]:
    found = operations(review_server.url)
    assert {operation.label for operation in found} >= REVIEW_OPERATIONS
    return found


def _run(review_server: Server, found: list[Any], mode: GenerationMode, examples: int) -> Tally:
    tally = Tally()
    for operation in found:
        fuzz(operation, mode, examples, {"X-API-Key": API_KEY}, tally)
    return tally


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_response_is_true_to_the_schema(
    review_server: Server, all_operations: list[Any], mode: GenerationMode
) -> None:
    tally = _run(review_server, all_operations, mode, EXAMPLES)
    assert tally.cases >= len(all_operations)
    assert not tally.failures, tally.report()


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_response_is_true_to_the_schema_long(
    review_server: Server, all_operations: list[Any], mode: GenerationMode
) -> None:
    tally = _run(review_server, all_operations, mode, 300)
    assert not tally.failures, tally.report()
