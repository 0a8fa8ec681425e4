"""Progress lines within long epochs, with a fake clock: the step, the time per step and the
ETAs by hand."""

from __future__ import annotations

import logging

import pytest

from simsearch.models.progress import StepProgress, format_duration


@pytest.mark.parametrize(
    ("seconds", "text"), [(7.2, "7s"), (95, "1m35s"), (3725, "1h02m"), (-1, "0s")], ids=["s", "m", "h", "neg"]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_line_every_30_seconds_with_the_time_left(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = StepProgress(every=30.0, clock=lambda: now[0])
    progress.set_params({"epochs": 3, "steps": 100, "verbose": 2})
    caplog.set_level(logging.INFO, logger="simsearch.models.progress")
    progress.on_train_begin()
    progress.on_epoch_begin(1)  # the second epoch: one more after it
    for step in range(100):
        now[0] += 2.0  # 2 s a step: 200 s an epoch
        progress.on_train_batch_end(step)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 6  # at 30, 60, ... 180 s: one per 15 steps
    # After 15 steps: 85 left in this epoch (170 s) and a whole epoch after it (200 s).
    assert lines[0] == (
        "epoch 2/3: step 15/100, 2.00 s/step, epoch ETA 2m50s, training ETA 6m10s if all 3 epochs run"
    )


def test_nothing_in_a_short_epoch(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = StepProgress(every=30.0, clock=lambda: now[0])
    progress.set_params({"epochs": 1, "steps": 10})
    caplog.set_level(logging.INFO, logger="simsearch.models.progress")
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    for step in range(10):
        now[0] += 1.0
        progress.on_train_batch_end(step)
    assert not caplog.records
