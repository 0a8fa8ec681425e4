"""Schemathesis over every operation of a real review server: requests generated from the
server's own OpenAPI description (following it, and breaking it), each response checked against
that description. Shared by tests/server/test_fuzz.py and benchmarks/bench_schema.py.

Hypothesis drives schemathesis's strategies directly (its pytest plugin does not load on this
pytest), one operation and generation mode at a time, derandomised so a run is repeatable.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

__all__ = ["CHECKS", "Tally", "fuzz", "operations", "write_review_pairs"]

CHECKS: dict[str, Callable[..., Any]] = {
    "not_a_server_error": not_a_server_error,
    "status_code_conformance": status_code_conformance,
    "content_type_conformance": content_type_conformance,
    "response_schema_conformance": response_schema_conformance,
}


@dataclass
class Tally:
    """Cases sent and failures found, by check and by operation."""

    cases: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # the first failure of each (check, operation)

    def report(self) -> str:
        lines = [f"{self.cases} cases, {sum(self.failures.values())} failures"]
        lines += [f"  {key}: {n}\n    {self.examples[key]}" for key, n in sorted(self.failures.items())]
        return "\n".join(lines)


def operations(url: str) -> list[Any]:
    """The operations of the server at `url`, from its `/openapi.json`."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation: Any, mode: GenerationMode, examples: int, headers: dict[str, str], tally: Tally) -> None:
    """Send up to `examples` generated requests to `operation` and run every check of `CHECKS` on
    each response, counting failures in `tally` (an operation without inputs has no invalid
    requests to generate)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        tally.cases += 1
        for name, check in CHECKS.items():
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except FailureGroup as group:
                _count(tally, name, operation.label, group.exceptions, response)
            except Failure as failure:
                _count(tally, name, operation.label, [failure], response)

    try:
        run()
    except Unsatisfiable:
        if mode != GenerationMode.NEGATIVE:
            raise


def _count(tally: Tally, check: str, label: str, failures: Sequence[Failure], response: Any) -> None:
    key = f"{check} {label}"
    tally.failures[key] += 1
    if key not in tally.examples:
        title = "; ".join(f.title for f in failures)
        tally.examples[key] = f"{response.status_code} {title}: {response.text[:200]!r}"


def write_review_pairs(ids: Sequence[str], path: Path) -> Path:
    """Candidate pairs between consecutive ids (a JSON-lines `read_pairs` file) for `--review`."""
    with open(path, "w") as f:
        for n, (left, right) in enumerate(itertools.pairwise(ids)):
            row = {"left_id": left, "right_id": right, "distance": 0.05 + 0.01 * n, "score": None}
            f.write(json.dumps(row) + "\n")
    return path
