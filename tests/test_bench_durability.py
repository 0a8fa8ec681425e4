"""`benchmarks/bench_durability.py`: its checker flags what it must (hand-made lost, phantom,
wrong and half-applied writes), a handful of kill points of writers taking turns on the writer
lock lose nothing (fast: library writers without TensorFlow), and the benchmark's own loop over
the real CLI and server (slow)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks import bench_durability as bench
from simsearch.index import FaissIndex, IndexConfig, load_index, save_index

REPO = Path(__file__).resolve().parents[1]
DIM = 4


def _vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, DIM)).astype(np.float32)


def _value(seed: int, meta: str = "{}") -> bench.Value:
    return bench.Value(meta, _vector(seed).tobytes())


def _index(items: dict[int, int]) -> FaissIndex:
    """An index holding item -> the vector of seed."""
    ids = list(items)
    xb = np.concatenate([_vector(seed) for seed in items.values()])
    return FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, ids, [{}] * len(ids))


def _ledger(items: dict[int, int]) -> bench.Ledger:
    ledger = bench.Ledger()
    ledger.items = {item: _value(seed) for item, seed in items.items()}
    return ledger


def test_the_checker_accepts_the_truth_and_either_outcome_of_a_write_in_doubt() -> None:
    ledger = _ledger({1: 1, 2: 2})
    ledger.begin([3, 4], [_value(3), _value(4)])  # a kill before the answer: applied or not
    ledger.labels = {(0, 1): "same"}
    ledger.pending_labels = [((0, 2), "different")]
    assert ledger.check(_index({1: 1, 2: 2, 3: 3, 4: 4}), {(0, 1): "same"}) == (3, [])
    assert set(ledger.items) == {1, 2, 3, 4} and not ledger.pending
    assert ledger.check(_index({1: 1, 2: 2, 3: 3, 4: 4}), {(0, 1): "same", (0, 2): "different"})[1] == [
        "label (0, 2): 'different', expected one of {None}"
    ]  # not in doubt any more: nobody wrote it


def test_the_checker_flags_lost_phantom_wrong_and_half_applied_writes() -> None:
    ledger = _ledger({1: 1, 2: 2, 3: 3})
    ledger.begin([7, 8], [_value(7), _value(8)])
    ledger.labels = {(0, 1): "same"}
    _, problems = ledger.check(_index({1: 1, 3: 30, 7: 7, 9: 9}), {})
    assert sorted(problems) == sorted(
        [
            "item 9: nobody wrote it",
            "item 2: acknowledged, lost",
            f"item 3: {_value(30)} instead of the acknowledged {_value(3)}",
            f"items [7, 8]: {[_value(7), None]}, neither before {[None, None]} nor {[_value(7), _value(8)]}",
            "label (0, 1): acknowledged 'same', lost",
        ]
    )


# A writer as `simsearch add`/`delete` does it, without the model: under the lock, load, update,
# save, then say so (the acknowledgement). Killed at random moments by the test.
WRITER = """
import sys
import numpy as np
from simsearch.index import WriterLock, load_index, save_index
path, op, item, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with WriterLock(path):
    index = load_index(path)
    if op == "delete":
        index.delete([item])
    else:
        index.add(np.random.default_rng(seed).standard_normal((1, 4)).astype(np.float32), [item], [{}])
    save_index(path, index)
print("done", flush=True)
"""


def test_a_few_kill_points_of_writers_taking_turns_lose_nothing(tmp_path: Path) -> None:
    target = save_index(tmp_path / "index", _index({1: 1, 2: 2}))
    ledger, rng, kills, next_id = _ledger({1: 1, 2: 2}), random.Random(0), 0, 100
    while kills < 6:
        writers = []
        for _ in range(rng.choice([1, 2])):
            live = [i for i in ledger.items if i >= 100 and i not in ledger.busy()]
            if live and rng.random() < 0.3:
                item = rng.choice(live)
                write, args = ledger.begin([item], [None]), ["delete", str(item), "0"]
            else:
                next_id += 1
                write, args = ledger.begin([next_id], [_value(next_id)]), ["add", str(next_id), str(next_id)]
            child = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(target), *args],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            writers.append((child, write))
        time.sleep(rng.uniform(0.3, 2.0))
        for child, write in writers:
            child.send_signal(signal.SIGKILL)
            out, _ = child.communicate(timeout=60)
            kills += child.returncode == -signal.SIGKILL
            if out.strip() == "done":
                ledger.acknowledge(write)
        checked, problems = ledger.check(load_index(target), {})
        assert problems == [] and checked >= 2


@pytest.mark.slow
def test_the_benchmark_loop_over_the_real_cli_and_server(tmp_path: Path) -> None:
    tally = bench.run(tmp_path / "bench", kills=6, minutes=10)
    assert tally.problems == []
    assert tally.n_kills >= 6 and tally.checks >= 1 and tally.checked > 0
