"""Property-based fuzzing of the real server from its own OpenAPI description (schemathesis):
requests that follow the schema and requests that break it, to every operation, with the API
key; none may get a server error.

Hypothesis drives schemathesis's strategies directly (its pytest plugin does not load on this
pytest), one operation and generation mode at a time, derandomised so a run is repeatable.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from .conftest import API_KEY, Server

EXAMPLES = 25


@pytest.fixture(scope="module")
def operations(server: Server) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation: Any, mode: GenerationMode, examples: int) -> None:
    """Send `examples` generated requests to `operation`; an operation without inputs has no
    invalid requests to generate."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers={"X-API-Key": API_KEY}, checks=[not_a_server_error])

    try:
        run()
    except Unsatisfiable:
        assert mode == GenerationMode.NEGATIVE, operation.label


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_no_request_gets_a_server_error(operations: list[Any], mode: GenerationMode) -> None:
    assert len(operations) >= 10
    for operation in operations:
        fuzz(operation, mode, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_no_request_gets_a_server_error_long(operations: list[Any], mode: GenerationMode) -> None:
    for operation in operations:
        fuzz(operation, mode, 300)
