"""The identification threshold of `simsearch evaluate --index`: --threshold, --min-precision
(from the model's stored held-out precision curve), else the calibrated one."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from simsearch.cli._identify import _threshold
from simsearch.errors import ConfigError, DataError

# [distance threshold, precision, recall] rows by decreasing strictness, as the model stores them.
CURVE = [[0.1, 1.0, 0.2], [0.2, 0.99, 0.5], [0.3, 0.95, 0.7], [0.4, 0.8, 0.9]]
MODEL = SimpleNamespace(threshold={"distance": 0.35}, calibration={"distance": CURVE})


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"threshold": None, "min_precision": None}, 0.35),
        ({"threshold": 0.25, "min_precision": None}, 0.25),
        ({"threshold": None, "min_precision": 0.95}, 0.3),  # the most recall at precision >= 0.95
        ({"threshold": None, "min_precision": 0.99}, 0.2),
    ],
    ids=["calibrated", "given", "precision-0.95", "precision-0.99"],
)
def test_threshold_rules(options: dict[str, float | None], expected: float) -> None:
    assert _threshold(MODEL, options) == pytest.approx(expected)


def test_threshold_errors() -> None:
    with pytest.raises(ConfigError, match="not both"):
        _threshold(MODEL, {"threshold": 0.2, "min_precision": 0.9})
    with pytest.raises(DataError, match=r"precision >= 1\.0"):
        _threshold(
            SimpleNamespace(threshold={}, calibration={"distance": [[0.1, 0.9, 0.5]]}),
            {"threshold": None, "min_precision": 1.0},
        )
