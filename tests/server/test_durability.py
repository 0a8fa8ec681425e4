"""Acknowledged writes survive `kill -9`: a real server takes adds, upserts and deletes from
several threads and is killed at random moments (checkpoints included: the journal is saved every
few hundred writes); after each kill the index loads and holds every acknowledged write."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from simsearch.index import FaissIndex, load_index

from .conftest import DIM, Server, copy_index

THREADS = 3


@dataclass
class Ledger:
    """What one writer thread sent, and which of it was acknowledged (a 2xx came back)."""

    name: str
    added: dict[str, list[float]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)  # sent, no answer: either outcome is fine
    version: int = 0  # the last acknowledged upsert of `u/<name>`
    version_pending: bool = False
    count: int = 0

    def step(self, client: httpx.Client, rng: random.Random) -> None:
        """Send one write and record its outcome; a transport error leaves it pending."""
        roll = rng.random()
        live = [i for i in self.added if i not in self.deleted and i not in self.pending]
        if roll < 0.2 and live:
            self._send(client, "/items/delete", {"ids": [rng.choice(live)]}, "delete")
        elif roll < 0.35:
            self._send(
                client,
                "/items",
                {
                    "ids": [f"u/{self.name}"],
                    "vectors": [_vector(rng)],
                    "metadata": [{"version": self.version + 1}],
                },
                "upsert",
                method="PUT",
            )
        else:
            self.count += 1
            self._send(
                client, "/items", {"ids": [f"a/{self.name}/{self.count}"], "vectors": [_vector(rng)]}, "add"
            )

    def _send(self, client: httpx.Client, path: str, body: dict, op: str, method: str = "POST") -> None:
        item = body["ids"][0]
        if op == "upsert":
            self.version_pending = True
        else:
            self.pending.add(item)
        response = client.request(method, path, json=body)  # raises once the server is killed
        assert response.status_code in (200, 201), response.text
        if op == "upsert":
            self.version, self.version_pending = self.version + 1, False
            return
        self.pending.discard(item)
        if op == "add":
            self.added[item] = body["vectors"][0]
        else:
            self.deleted.add(item)

    def check(self, index: FaissIndex) -> int:
        """Assert every acknowledged write is in `index`; returns how many were checked."""
        kept = [i for i in self.added if i not in self.deleted and i not in self.pending]
        assert all(i in index for i in kept), [i for i in kept if i not in index][:5]
        if kept:
            np.testing.assert_array_equal(
                index.get(kept), np.asarray([self.added[i] for i in kept], np.float32)
            )
        gone = [i for i in self.deleted if i not in self.pending]
        assert not any(i in index for i in gone), [i for i in gone if i in index][:5]
        if self.version:
            stored = index.metadata([f"u/{self.name}"])[0]["version"]
            assert stored in {self.version, self.version + self.version_pending}
        return len(kept) + len(gone) + self.version

    def settle(self, index: FaissIndex) -> None:
        """Adopt the outcome of the writes left pending by the kill: either is fine."""
        for item in self.pending:
            if item in self.added and item not in index:
                self.deleted.add(item)
        if self.version_pending and f"u/{self.name}" in index:
            self.version = index.metadata([f"u/{self.name}"])[0]["version"]
        self.pending.clear()
        self.version_pending = False
        self.count += 1000  # never reuse the id of an add that may have landed


def _vector(rng: random.Random) -> list[float]:
    return [float(np.float32(rng.uniform(-1, 1))) for _ in range(DIM)]


def write_until_killed(server: Server, ledger: Ledger, seed: int) -> None:
    rng = random.Random(seed)
    with server.client() as client:
        try:
            while True:
                ledger.step(client, rng)
        except httpx.TransportError:
            return


def kill_rounds(built_index: Path, tmp: Path, rounds: int, seed: int) -> int:
    index = copy_index(built_index, tmp / "index")
    ledgers = [Ledger(f"t{t}") for t in range(THREADS)]
    rng = random.Random(seed)
    checked = 0
    for round_ in range(rounds):
        server = Server(
            index, "--allow-writes", "--checkpoint-bytes", "30000", log=tmp / "server.log"
        ).start()
        threads = [
            threading.Thread(target=write_until_killed, args=(server, ledger, seed * 1000 + round_ * 10 + t))
            for t, ledger in enumerate(ledgers)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.2, 1.5))
        server.kill()
        for thread in threads:
            thread.join(timeout=60)
        loaded = load_index(index)
        checked = sum(ledger.check(loaded) for ledger in ledgers)
        for ledger in ledgers:
            ledger.settle(loaded)
    return checked


def test_acknowledged_writes_survive_kill_9(built_index: Path, tmp_path: Path) -> None:
    checked = kill_rounds(built_index, tmp_path, rounds=2, seed=1)
    assert checked > 20


@pytest.mark.slow
def test_acknowledged_writes_survive_many_kill_points(built_index: Path, tmp_path: Path) -> None:
    checked = kill_rounds(built_index, tmp_path, rounds=12, seed=2)
    assert checked > 200
