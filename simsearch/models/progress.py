"""Progress within long epochs, for logs: Keras's bar (`verbose=1`) shows it on a terminal, but
its one line per epoch (`verbose=2`, in a log file or CI) says nothing for an hour-long epoch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import keras

__all__ = ["StepProgress", "format_duration"]

logger = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """`3725` -> `'1h02m'`, `95` -> `'1m35s'`, `7.2` -> `'7s'`."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class StepProgress(keras.callbacks.Callback):
    """Log the step, the time per step and the time left (in the epoch, and in training if every
    epoch runs: early stopping may end it sooner) at most once per `every` seconds.

    Args:
        every: seconds between two lines; nothing is logged in an epoch shorter than that.
        clock: seconds as a float (`time.monotonic`; a fake one in tests).
    """

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock

    def on_train_begin(self, logs: Any = None) -> None:
        self._epoch_times: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch = epoch
        self._start = self._last = self.clock()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self._epoch_times.append(self.clock() - self._start)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        now = self.clock()
        if now - self._last < self.every:
            return
        self._last = now
        steps, epochs = self.params.get("steps"), int(self.params.get("epochs", 1))
        done = batch + 1
        per_step = (now - self._start) / done
        line = f"epoch {self._epoch + 1}/{epochs}: step {done}"
        if steps:
            epoch_left = per_step * (int(steps) - done)
            epoch_time = per_step * int(steps)
            training_left = epoch_left + epoch_time * (epochs - self._epoch - 1)
            line += (
                f"/{steps}, {per_step:.2f} s/step, epoch ETA {format_duration(epoch_left)}, "
                f"training ETA {format_duration(training_left)} if all {epochs} epochs run"
            )
        else:
            line += f", {per_step:.2f} s/step"
        logger.info(line)


class StopReport(keras.callbacks.Callback):
    """Log how training ended and how long it took: stopped early by `stopping` (its epoch, the
    best value and when), or after every epoch.

    Args:
        stopping: the run's `keras.callbacks.EarlyStopping`.
        others: the run's other stopping callbacks (`fitting.StopWhenSaturated`,
            `fitting.StopUnlessBeaten`): one that ended training has its `stopped_epoch` set and
            says why with `reason()`.
        clock: seconds as a float (`time.monotonic`; a fake one in tests).
    """

    def __init__(self, stopping: Any, *others: Any, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.stopping = stopping
        self.others = others
        self.clock = clock

    def on_train_begin(self, logs: Any = None) -> None:
        self._start = self.clock()

    def on_train_end(self, logs: Any = None) -> None:
        took = format_duration(self.clock() - self._start)
        epochs = int(self.params.get("epochs", 0))
        s = self.stopping
        best = f"best {s.monitor} {float(s.best):.4f} at epoch {int(s.best_epoch) + 1}"
        other = next((o for o in self.others if o.stopped_epoch is not None), None)
        if other is not None:
            logger.info(
                "Training stopped at epoch %d of %d: %s (%s); %s",
                other.stopped_epoch + 1, epochs, other.reason(), best, took,
            )  # fmt: skip
        elif s.stopped_epoch > 0:
            logger.info(
                "Training stopped early at epoch %d of %d, after %d epochs without a gain of %g in %s "
                "(%s); %s",
                s.stopped_epoch + 1, epochs, s.patience, abs(s.min_delta), s.monitor, best, took,
            )  # fmt: skip
        else:
            logger.info("Training ran all %d epochs (%s); %s", epochs, best, took)

