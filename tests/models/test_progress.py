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


def test_the_stop_is_logged_with_its_reason_and_time(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from simsearch.models.progress import StopReport

    now = [0.0]
    stopping = SimpleNamespace(
        monitor="val_average_precision",
        best=0.99998,
        best_epoch=5,
        stopped_epoch=10,
        patience=5,
        min_delta=1e-4,
    )
    report = StopReport(stopping, clock=lambda: now[0])
    report.set_params({"epochs": 20})
    caplog.set_level(logging.INFO, logger="simsearch.models.progress")
    report.on_train_begin()
    now[0] = 754.0
    report.on_train_end()
    assert caplog.records[-1].getMessage() == (
        "Training stopped early at epoch 11 of 20, after 5 epochs without a gain of 0.0001 in "
        "val_average_precision (best val_average_precision 1.0000 at epoch 6); 12m34s"
    )
    stopping.stopped_epoch = 0
    report.on_train_begin()
    report.on_train_end()
    assert (
        caplog.records[-1].getMessage().startswith("Training ran all 20 epochs (best val_average_precision")
    )


def test_a_saturated_score_is_no_gain() -> None:
    import keras

    from simsearch.models.fitting import MIN_GAIN, _callbacks
    from simsearch.train_config import TrainConfig

    stopping = next(
        c
        for c in _callbacks(TrainConfig(patience=2), keras.callbacks.Callback(), "val_average_precision")
        if isinstance(c, keras.callbacks.EarlyStopping)
    )
    stopping.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopping.on_train_begin()
    # AP 1.0000 to four places from the second epoch, creeping up by less than MIN_GAIN: Keras's
    # default (any gain counts) ran every epoch; with MIN_GAIN it stops after `patience` epochs.
    for epoch, ap in enumerate([0.9, 0.99996, 0.99997, 0.99998, 0.99999, 0.999995]):
        stopping.on_epoch_end(epoch, {"val_average_precision": ap})
        if getattr(stopping.model, "stop_training", False):
            break
    assert MIN_GAIN == 1e-4 and stopping.stopped_epoch == 3  # best at epoch 2, then 2 without gain


class _Scores:
    """A validation callback writing given held-out scores, one per epoch, as `val_average_precision`."""

    def __init__(self, scores: list[float]) -> None:
        import keras

        outer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if logs is not None:
                    logs["val_average_precision"] = outer.scores[epoch]

        self.scores = scores
        self.callback = Callback()


def _fit(scores: list[float], to_beat: float | None = None, patience: int = 2) -> int:
    """Epochs a one-weight model runs under `_callbacks` with the held-out `scores`."""
    import keras
    import numpy as np

    from simsearch.models.fitting import _callbacks
    from simsearch.train_config import TrainConfig

    config = TrainConfig(patience=patience, verbose=0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    callbacks = _callbacks(config, _Scores(scores).callback, "val_average_precision", to_beat)
    x = np.zeros((4, 1), np.float32)
    history = model.fit(x, x, epochs=len(scores), verbose=0, callbacks=callbacks)
    return len(history.history["loss"])


def test_training_stops_at_the_first_saturated_epoch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="simsearch.models.progress")
    # 0.99991 is within MIN_GAIN of 1: no later epoch can gain; patience would have run 2 more.
    assert _fit([0.9, 0.95, 0.99991, 1.0, 1.0, 1.0]) == 3
    assert "stopped at epoch 3 of 6: held-out val_average_precision saturated at 0.9999" in caplog.text
    assert _fit([0.9, 0.95, 0.9998, 0.9998, 0.9998, 0.9998]) == 5  # not saturated: patience


def test_training_that_never_beats_the_simpler_candidate_stops_after_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="simsearch.models.progress")
    rising = [0.80, 0.82, 0.84, 0.86, 0.88, 0.90]  # each epoch better than the last
    assert _fit(rising) == 6
    # ... but never better than the baseline's 0.95: it would not be saved, so `patience` epochs do.
    assert _fit(rising, to_beat=0.95) == 2
    said = "epoch 2 of 6: 2 epochs without beating the simpler candidate's val_average_precision 0.9500"
    assert said in caplog.text
    # Beaten at epoch 2: then early stopping's patience as usual (no gain after epoch 2).
    assert _fit([0.80, 0.97, 0.96, 0.96, 0.96, 0.96], to_beat=0.95) == 4
