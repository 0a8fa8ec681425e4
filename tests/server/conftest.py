"""Fixtures of the server tests: a tiny real model (untrained tower and head: the plumbing is
under test, not the quality), an index of real Omniglot drawings, and real `simsearch serve`
processes on free loopback ports."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from simsearch.data.items import Items

REPO = Path(__file__).resolve().parents[2]
DIM = 16
N_ITEMS = 60
API_KEY = "test-key-0123456789"
_URL = re.compile(r"on (http://\S+) \(writes")


@pytest.fixture(scope="session")
def catalog() -> Items:
    """The first 60 drawings of the bundled Omniglot evaluation sample, unlabelled."""
    from simsearch.data.loaders import load_npz
    from simsearch.datasets import omniglot_sample

    items = load_npz(omniglot_sample("evaluation")).subset(np.arange(N_ITEMS))
    return Items(ids=items.ids, labels=np.full(N_ITEMS, -1, np.int64), classes=(), images=items.images)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 28×28 image model of dim 16 (a real tower and head, built in ~1 s)."""
    from simsearch.models import SiameseModel, build_head_model, build_image_tower
    from simsearch.models.towers import ImageTowerConfig

    tower = build_image_tower(ImageTowerConfig(blocks=1, filters=8, embedding_dim=DIM, invert=True))
    config = {
        "kind": "image",
        "inputs": {"image_size": [28, 28], "channels": 1},
        "dim": DIM,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    path = tmp_path_factory.mktemp("server") / "model"
    SiameseModel(tower, build_head_model(DIM), config).save(path)
    return path


@pytest.fixture(scope="session")
def built_index(model_dir: Path, catalog: Items, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index of `catalog`; tests serve copies of it."""
    from simsearch.engine import build_index

    path = tmp_path_factory.mktemp("server") / "index"
    build_index(model_dir, catalog, path, factory="Flat")
    return path


@pytest.fixture(scope="session")
def catalog_vectors(model_dir: Path, catalog: Items) -> np.ndarray:
    """The model's embeddings of `catalog`, `(60, 16) float32`."""
    from simsearch.models import SiameseModel

    return SiameseModel.load(model_dir).encode(catalog.images)


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def png_base64(image: np.ndarray) -> str:
    """A `(h, w, 1) float32` drawing as a base64 PNG file."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((image[..., 0] * 255).astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class Server:
    """A `python -m simsearch serve` process on a free loopback port (`--port 0`).

    Args:
        index: the index directory to serve.
        args: more `serve` options.
        log: where the process's stderr goes.
    """

    def __init__(self, index: Path, *args: str, log: Path) -> None:
        self.index = index
        self.args = args
        self.log = log
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> Server:
        """Start the process and return once `/ready` answers 200."""
        command = [
            sys.executable,
            "-m",
            "simsearch",
            "-v",
            "serve",
            "--index",
            str(self.index),
            "--port",
            "0",
            # the model at start, as the tests' clients time out: else the first raw item loads it
            # (tests/cli/test_no_tensorflow.py serves without it)
            "--load-model",
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([*command, *self.args], cwd=REPO, stderr=log, env=env)
        deadline = time.monotonic() + timeout
        while not self.url:
            self._check_alive(deadline)
            found = _URL.search(self.log.read_bytes()[offset:].decode(errors="replace"))
            self.url = found.group(1) if found else ""
            time.sleep(0.05)
        self._wait_ready(deadline)
        return self

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, headers=headers)

    def stop(self) -> int:
        """SIGTERM (a graceful stop: checkpoint), then wait; returns the exit code."""
        return self._signal(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL: no chance to clean up."""
        return self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self.url = ""
        return code

    def _check_alive(self, deadline: float) -> None:
        assert self.process is not None
        if self.process.poll() is not None or time.monotonic() > deadline:
            self._signal(signal.SIGKILL)
            raise AssertionError(f"server did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def _wait_ready(self, deadline: float) -> None:
        while True:
            self._check_alive(deadline)
            try:
                if httpx.get(f"{self.url}/ready", timeout=5.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)


# The options of the shared servers: the API key and small request limits.
SERVE_OPTIONS = (
    "--api-key", API_KEY, "--max-batch", "64", "--max-k", "100", "--max-body-bytes", str(1 << 20)
)  # fmt: skip


@pytest.fixture(scope="session")
def server(built_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with an API key over a copy of the index, shared by the session (a start costs
    ~6 s of TensorFlow import): tests that read counts compare before and after."""
    root = tmp_path_factory.mktemp("served")
    running = Server(
        copy_index(built_index, root / "index"),
        *SERVE_OPTIONS,
        log=root / "server.log",
    ).start()
    yield running
    assert running.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once shut down
    assert "Traceback" not in running.log.read_text(errors="replace")


def hits_ids(payload: dict[str, Any]) -> list[list[Any]]:
    return [[hit["id"] for hit in result["hits"]] for result in payload["results"]]
