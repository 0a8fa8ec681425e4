"""Durability under `kill -9`: every acknowledged write survives, nothing unacknowledged is wrong.

A loop of kill points over one index directory and one review labels file, on loopback only:

    server    `simsearch serve --allow-writes --review PAIRS` taking HTTP writes from two
              threads (adds, upserts, deletes, `POST /checkpoint`; a small --checkpoint-bytes
              saves the index every few dozen writes) and review labels (`POST /review/label`)
              from a third, killed at a random moment (1 in 8 while it starts: recovery, journal
              replay)
    cli       one or two `simsearch add` / `add --upsert` / `delete` at once (they take turns on
              the index's writer lock), each killed at a random moment of its run or left to
              finish

After each kill the directory is read as a restart reads it (`load_index`, `LabelLog`) and
checked against a ledger of what was acknowledged (a 2xx answer; a CLI's "Added/Upserted/Deleted"
line): every acknowledged item present with its value (the exact vector and metadata sent over
HTTP; the catalogue's fields for CLI writes), every acknowledged delete gone, every acknowledged
label in force. A write left unanswered by the kill may have happened or not, but as a whole: an
item or label that nobody wrote, or a value nobody sent, is a failure.

The tiny record model (untrained: the plumbing is under test) is built once. Every process is the
real CLI (`simsearch.cli`), forked from a "zygote" process that has imported it and TensorFlow
once, so a restart costs the model and index load, not ~6-40 s of imports; each child opens its
files, takes its locks and writes as a `python -m simsearch` process would.

    python benchmarks/bench_durability.py                  # >= 300 kill points, <= 14 minutes
    python benchmarks/bench_durability.py --kills 20 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DIM = 16
BASE = [("sony turntable", 99.0), ("sony tv", 399.0), ("canon camera", 249.0), ("nikon camera", 259.0)]
_URL = re.compile(r"on (http://\S+) \(writes")


# ---- the zygote: forks real CLI processes ----------------------------------------------------


def zygote() -> None:
    """Import the CLI and TensorFlow once, then fork one child per request read from stdin."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras  # noqa: F401  (imported, not run: the children start TensorFlow's runtime)

    import simsearch.cli
    import simsearch.engine
    import simsearch.server  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "wait":
            _, status = os.waitpid(request["pid"], 0)
            reply = {"status": os.waitstatus_to_exitcode(status)}
        else:
            reply = {"pid": _fork(request)}
        print(json.dumps(reply), flush=True)


def _fork(request: dict[str, Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd, path in ((1, request["out"]), (2, request["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        if request["op"] == "setup":
            make_fixture(Path(request["dir"]))
            code = 0
        else:
            from simsearch.cli import cli

            sys.argv = ["simsearch", *request["argv"]]
            try:
                cli.main(args=request["argv"], prog_name="simsearch")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Zygote:
    """The benchmark's handle on the zygote process."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--zygote"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._lock = threading.Lock()
        assert self._ask({})["ready"]

    def spawn(self, argv: list[str], out: Path, err: Path, op: str = "cli", **extra: str) -> int:
        return int(self._ask({"op": op, "argv": argv, "out": str(out), "err": str(err), **extra})["pid"])

    def wait(self, pid: int) -> int:
        return int(self._ask({"op": "wait", "pid": pid})["status"])

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.process.stdout.close()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self._lock:
            if request:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the zygote process died")
        return dict(json.loads(line))


def make_fixture(root: Path) -> None:
    """The tiny record model, its index of `BASE` (ids 0..3) and the review pairs (all 6)."""
    from simsearch.data.loaders import load_table
    from simsearch.engine import build_index
    from simsearch.models import SiameseModel, build_head_model
    from simsearch.models.towers import RecordTowerConfig, build_record_tower

    root.mkdir(parents=True, exist_ok=True)
    catalog = root / "base.csv"
    catalog.write_text("id,name,price\n" + "".join(f"{i},{n},{p}\n" for i, (n, p) in enumerate(BASE)))
    items = load_table(catalog, fields=["name", "price"])
    tower = build_record_tower(
        items.fields, RecordTowerConfig(text_fields=("name",), numeric_fields=("price",), embedding_dim=DIM)
    )
    config = {
        "kind": "record",
        "inputs": {"text_fields": ["name"], "numeric_fields": ["price"]},
        "dim": DIM,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    SiameseModel(tower, build_head_model(DIM), config).save(root / "model")
    build_index(root / "model", items, root / "index", factory="Flat")
    pairs = [(a, b) for a in range(len(BASE)) for b in range(a + 1, len(BASE))]
    (root / "pairs.csv").write_text(
        "left_id,right_id,distance,score\n" + "".join(f"{a},{b},0.5,\n" for a, b in pairs)
    )


# ---- the ledger: what was acknowledged, what is in doubt --------------------------------------


@dataclass(frozen=True)
class Value:
    """An item as written: its metadata, and its vector when the writer chose it (HTTP)."""

    meta: str
    vector: bytes | None = None


@dataclass
class Pending:
    """A write sent and not answered: it may have happened, wholly, or not at all."""

    ids: list[int]
    outcome: list[Value | None]  # None: deleted


@dataclass
class Ledger:
    items: dict[int, Value] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    labels: dict[tuple[int, int], str] = field(default_factory=dict)
    pending_labels: list[tuple[tuple[int, int], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, ids: list[int], outcome: list[Value | None]) -> Pending:
        with self.lock:
            write = Pending(ids, outcome)
            self.pending.append(write)
            return write

    def acknowledge(self, write: Pending) -> None:
        with self.lock:
            self.pending.remove(write)
            self._apply(write)

    def _apply(self, write: Pending) -> None:
        for item, value in zip(write.ids, write.outcome, strict=True):
            if value is None:
                self.items.pop(item, None)
            else:
                self.items[item] = value

    def busy(self) -> set[int]:
        with self.lock:
            return {i for write in self.pending for i in write.ids}

    def check(self, index: Any, labels: dict[tuple[Any, Any], str]) -> tuple[int, list[str]]:
        """Compare what a restart reads with the ledger; adopt the outcome of writes in doubt.
        Returns how many acknowledged facts were checked and the problems found."""
        seen = {int(i) for i in index.ids.tolist()}
        doubt = {i for write in self.pending for i in write.ids}
        problems = [f"item {i}: nobody wrote it" for i in sorted(seen - set(self.items) - doubt)]
        sure = [i for i in self.items if i not in doubt]
        for item in sure:
            got = _observe(index, item, seen)
            if got is None:
                problems.append(f"item {item}: acknowledged, lost")
            elif not _same(got, self.items[item]):
                problems.append(f"item {item}: {got} instead of the acknowledged {self.items[item]}")
        for write in self.pending:
            got_all = [_observe(index, i, seen) for i in write.ids]
            before = [self.items.get(i) for i in write.ids]
            if _all_same(got_all, write.outcome):
                self._apply(write)
            elif not _all_same(got_all, before):
                problems.append(f"items {write.ids}: {got_all}, neither before {before} nor {write.outcome}")
        self.pending.clear()
        checked = len(sure) + self._check_labels(labels, problems)
        return checked, problems

    def _check_labels(self, labels: dict[tuple[Any, Any], str], problems: list[str]) -> int:
        doubt = dict(self.pending_labels)
        for pair, label in labels.items():
            allowed = {self.labels.get(pair), doubt.get(pair)}
            if label not in allowed:
                problems.append(f"label {pair}: {label!r}, expected one of {allowed}")
        for pair, label in self.labels.items():
            if pair not in labels and pair not in doubt:
                problems.append(f"label {pair}: acknowledged {label!r}, lost")
        self.labels = {pair: label for pair, label in labels.items()}
        self.pending_labels.clear()
        return len(self.labels)


def _observe(index: Any, item: int, seen: set[int]) -> Value | None:
    if item not in seen:
        return None
    meta = json.dumps(index.metadata([item])[0], sort_keys=True)
    return Value(meta, np.asarray(index.get([item])[0], np.float32).tobytes())


def _same(got: Value | None, want: Value | None) -> bool:
    if got is None or want is None:
        return got is want
    return got.meta == want.meta and (want.vector is None or got.vector == want.vector)


def _all_same(got: list[Value | None], want: list[Value | None]) -> bool:
    return all(_same(g, w) for g, w in zip(got, want, strict=True))


# ---- rounds -----------------------------------------------------------------------------------


@dataclass
class Tally:
    kills: dict[str, int] = field(default_factory=dict)
    finished: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)
    checked: int = 0
    checks: int = 0
    old_only: int = 0
    problems: list[str] = field(default_factory=list)

    def count(self, table: dict[str, int], key: str, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n

    @property
    def n_kills(self) -> int:
        return sum(self.kills.values())


class Bench:
    def __init__(self, root: Path, zygote: Zygote, seed: int) -> None:
        self.root = root
        self.index = root / "index"
        self.labels = root / "labels.jsonl"
        self.zygote = zygote
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.tally = Tally()
        self.next_id = 1000
        self.start_s = 3.0  # a server's start, measured as it goes
        self.cli_s = 3.0  # a CLI write's run
        self.round = 0
        base = load_index_quietly(self.index)
        for item in base.ids.tolist():
            self.ledger.items[int(item)] = _observe(base, int(item), {int(item)})  # type: ignore[assignment]

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- server rounds --

    def server_round(self) -> None:
        log = self.root / "server.log"
        argv = [
            "serve", "--index", str(self.index), "--allow-writes", "--port", "0",
            "--checkpoint-bytes", "6000", "--faiss-threads", "1",
            "--review", str(self.root / "pairs.csv"), "--labels", str(self.labels),
        ]  # fmt: skip
        started = time.monotonic()
        pid = self.zygote.spawn(argv, self.root / "server.out", log)
        if self.rng.random() < 1 / 8:
            time.sleep(self.rng.uniform(0, self.start_s))
            self._kill(pid, "server starting")
            return
        url = self._wait_ready(pid, log)
        self.start_s = 0.8 * self.start_s + 0.2 * (time.monotonic() - started)
        stop = threading.Event()
        threads = [threading.Thread(target=self._http_writes, args=(url, t, stop)) for t in range(2)] + [
            threading.Thread(target=self._labelling, args=(url, stop))
        ]
        for thread in threads:
            thread.start()
        time.sleep(self.rng.uniform(0.1, 1.5))
        self._kill(pid, "server running")
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    def _wait_ready(self, pid: int, log: Path) -> str:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = _URL.search(log.read_text(errors="replace")) if log.exists() else None
            if found:
                try:
                    if httpx.get(f"{found.group(1)}/ready", timeout=5).status_code == 200:
                        return found.group(1)
                except httpx.TransportError:
                    pass
            elif _exited(pid):
                break
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        self.zygote.wait(pid)
        raise RuntimeError(f"the server did not restart:\n{log.read_text(errors='replace')[-3000:]}")

    def _http_writes(self, url: str, thread: int, stop: threading.Event) -> None:
        rng = random.Random(self.rng.random())
        mine: list[int] = []
        with httpx.Client(base_url=url, timeout=30) as client:
            try:
                while not stop.is_set():
                    self._http_write(client, rng, mine, thread)
            except httpx.TransportError:
                return  # the kill
            except AssertionError as exc:
                self.tally.problems.append(f"round {self.round}: {exc}")

    def _http_write(self, client: httpx.Client, rng: random.Random, mine: list[int], thread: int) -> None:
        live = [i for i in mine if i in self.ledger.items and i not in self.ledger.busy()]
        roll = rng.random()
        if roll < 0.03:
            _expect(client.post("/checkpoint"), "checkpoint")
            self.tally.count(self.tally.acknowledged, "http checkpoint")
            return
        if roll < 0.25 and live:
            item = rng.choice(live)
            write = self.ledger.begin([item], [None])
            _expect(client.post("/items/delete", json={"ids": [item]}), "delete")
            op = "http delete"
        else:
            upsert = roll < 0.45 and bool(live)
            item = rng.choice(live) if upsert else self.new_id()
            vector = [float(np.float32(rng.uniform(-1, 1))) for _ in range(DIM)]
            meta = {"by": f"http{thread}", "version": rng.randrange(10**6)}
            value = Value(json.dumps(meta, sort_keys=True), np.asarray(vector, np.float32).tobytes())
            write = self.ledger.begin([item], [value])
            body = {"ids": [item], "vectors": [vector], "metadata": [meta]}
            _expect(client.request("PUT" if upsert else "POST", "/items", json=body), "write")
            op = "http upsert" if upsert else "http add"
            if not upsert:
                mine.append(item)
        self.ledger.acknowledge(write)
        self.tally.count(self.tally.acknowledged, op)

    def _labelling(self, url: str, stop: threading.Event) -> None:
        rng = random.Random(self.rng.random())
        n = len(BASE)
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        with httpx.Client(base_url=url, timeout=30) as client:
            try:
                while not stop.is_set():
                    pair, label = rng.choice(pairs), rng.choice(["same", "different", "unsure"])
                    with self.ledger.lock:
                        self.ledger.pending_labels.append((pair, label))
                    body = {"left_id": pair[0], "right_id": pair[1], "label": label}
                    _expect(client.post("/review/label", json=body), "label")
                    with self.ledger.lock:
                        self.ledger.pending_labels.remove((pair, label))
                        self.ledger.labels[pair] = label
                    self.tally.count(self.tally.acknowledged, "review label")
            except httpx.TransportError:
                return  # the kill
            except AssertionError as exc:
                self.tally.problems.append(f"round {self.round}: {exc}")

    # -- CLI rounds --

    def cli_round(self) -> None:
        writers = [self._cli_write(n) for n in range(self.rng.choice([1, 2]))]
        for pid, kind, out, write, started in writers:
            self._cli_finish(pid, kind, out, write, started)

    def _cli_write(self, n: int) -> tuple[int, str, Path, Pending, float]:
        live = sorted(i for i in self.ledger.items if i >= 1000 and i not in self.ledger.busy())
        roll = self.rng.random()  # the review's pairs are between the 4 first items: kept
        out = self.root / f"cli{n}.out"
        if roll < 0.3 and live:
            item = self.rng.choice(live)
            write = self.ledger.begin([item], [None])
            argv, kind = ["delete", "--index", str(self.index), "--id", str(item)], "cli delete"
        else:
            upsert = roll < 0.5 and bool(live)
            ids = (
                [self.rng.choice(live)] if upsert else [self.new_id() for _ in range(self.rng.randint(1, 3))]
            )
            price = float(self.rng.randrange(1, 10**5))
            catalog = self.root / f"cli{n}.csv"
            catalog.write_text("id,name,price\n" + "".join(f"{i},cli item {i},{price}\n" for i in ids))
            outcome = [
                # catalogue values are kept as written in the CSV (issue 26): the price as text
                Value(json.dumps({"name": f"cli item {i}", "price": str(price)}, sort_keys=True))
                for i in ids
            ]
            write = self.ledger.begin(ids, list(outcome))
            argv = [
                "add",
                "--index",
                str(self.index),
                "--catalog",
                str(catalog),
                *(["--upsert"] if upsert else []),
            ]
            kind = "cli upsert" if upsert else "cli add"
        pid = self.zygote.spawn(argv, out, self.root / f"cli{n}.err")
        return pid, kind, out, write, time.monotonic()

    def _cli_finish(self, pid: int, kind: str, out: Path, write: Pending, started: float) -> None:
        roll = self.rng.random()
        if roll < 0.85:  # half of the kills aimed at the end of a run: the save and its renames
            at = self.rng.uniform(0, 1.2) if roll < 0.425 else self.rng.uniform(0.75, 1.1)
            time.sleep(max(0.0, started + at * self.cli_s - time.monotonic()))
            os.kill(pid, signal.SIGKILL)
        status = self.zygote.wait(pid)
        if status == -signal.SIGKILL:
            self.tally.count(self.tally.kills, kind)
        else:
            self.tally.finished += 1
            self.cli_s = 0.8 * self.cli_s + 0.2 * (time.monotonic() - started)
            if status != 0:
                err = out.with_suffix(".err").read_text(errors="replace")
                self.tally.problems.append(f"{kind} exited {status}: {err[-500:]}")
        if re.match(r"(Added|Upserted|Deleted) ", out.read_text()):  # the user saw it: acknowledged
            self.ledger.acknowledge(write)
            self.tally.count(self.tally.acknowledged, kind)

    # -- checks --

    def _kill(self, pid: int, kind: str) -> None:
        os.kill(pid, signal.SIGKILL)
        self.zygote.wait(pid)
        self.tally.count(self.tally.kills, kind)

    def check(self) -> None:
        from simsearch.server.labels import LabelLog

        if not self.index.exists():
            self.tally.old_only += 1
        index = load_index_quietly(self.index)
        labels = LabelLog(self.labels).labels if self.labels.exists() else {}
        checked, problems = self.ledger.check(index, labels)
        self.tally.checked += checked
        self.tally.checks += 1
        self.tally.problems += [f"round {self.round}: {p}" for p in problems]


def load_index_quietly(path: Path) -> Any:
    from simsearch.index import load_index

    return load_index(path)


def _expect(response: httpx.Response, what: str) -> None:
    if response.status_code not in (200, 201):
        raise AssertionError(f"{what}: {response.status_code} {response.text[:300]}")


def _exited(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


# ---- main ---------------------------------------------------------------------------------------


def run(workdir: Path, kills: int, minutes: float, seed: int = 0) -> Tally:
    """Run kill points until `kills` or `minutes`; returns the tally."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    zygote = Zygote()
    try:
        pid = zygote.spawn([], workdir / "setup.out", workdir / "setup.err", op="setup", dir=str(workdir))
        if zygote.wait(pid) != 0:
            raise RuntimeError((workdir / "setup.err").read_text()[-3000:])
        bench = Bench(workdir, zygote, seed)
        deadline = time.monotonic() + 60 * minutes
        while bench.tally.n_kills < kills and time.monotonic() < deadline:
            bench.round += 1
            try:
                bench.server_round() if bench.rng.random() < 0.6 else bench.cli_round()
            except RuntimeError as exc:  # a restart that failed: the directory is broken
                bench.tally.problems.append(f"round {bench.round}: {exc}")
                break
            bench.check()
            if bench.round % 10 == 0:
                print(
                    f"round {bench.round}: {bench.tally.n_kills} kill points, {len(bench.tally.problems)} "
                    f"problems, start {bench.start_s:.1f} s, CLI write {bench.cli_s:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        return bench.tally
    finally:
        zygote.close()


def report(tally: Tally, args: argparse.Namespace, seconds: float) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kills = ", ".join(f"{k} {v}" for k, v in sorted(tally.kills.items()))
    acks = ", ".join(f"{k} {v}" for k, v in sorted(tally.acknowledged.items()))
    verdict = "none" if not tally.problems else f"**{len(tally.problems)}**: " + "; ".join(tally.problems[:5])
    return "\n".join([
        f"## Durability under kill -9 (issue 27, {when})",
        "",
        f"`python benchmarks/bench_durability.py --kills {args.kills} --minutes {args.minutes:g} "
        f"--seed {args.seed}` on {os.cpu_count()} cores (`nproc`), load average {load} at the end; "
        f"{seconds / 60:.1f} min.",
        "A tiny record model and index (4 items to start); every process the real CLI, forked from a zygote",
        "that imported it once. Each kill is followed by a restart's read (`load_index`, `LabelLog`) checked",
        "against the acknowledged writes (values included) and for anything nobody acknowledged or sent.",
        "",
        f"- kill points: **{tally.n_kills}** ({kills}); CLI writes left to finish: {tally.finished}",
        f"- writes acknowledged before a kill: {sum(tally.acknowledged.values())} ({acks})",
        f"- checks after a restart: {tally.checks}, acknowledged facts checked {tally.checked} in all",
        f"- index found as `.index.old` only (a kill between a save's two renames): {tally.old_only}",
        f"- lost, wrong or phantom writes: {verdict}",
        "",
    ])  # fmt: skip


def main() -> None:
    if sys.argv[1:] == ["--zygote"]:
        zygote()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=320, help="stop after this many kill points")
    parser.add_argument("--minutes", type=float, default=14.0, help="... or after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "simsearch-bench-durability"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    start = time.monotonic()
    tally = run(args.workdir, args.kills, args.minutes, args.seed)
    text = report(tally, args, time.monotonic() - start)
    print(text)
    for problem in tally.problems:
        print(problem, file=sys.stderr)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write("\n" + text)
    sys.exit(1 if tally.problems else 0)


if __name__ == "__main__":
    main()
