"""Retrain from the review page: `simsearch train --pairs` on the exported labels, over the
catalogue table (text and record models) or the image folder, `.zip` or `.npz` (image models),
in a subprocess (TensorFlow training never runs in the server's process, so the API keeps
answering), one at a time, into a new model directory beside the labels (never the served
model's).

    GET  /review/retrain    the job's state, progress (the latest `Epoch i/n`), its validation
                            line, and the commands that index and serve the new model
    POST /review/retrain    start one: {"epochs": 2} (optional); 400 when the labels are too
                            few to train (`check_pairs_trainable`), 409 while one runs; only
                            with the API key on a server with one, else only on a server
                            started with --allow-retrain (401/403: `access.require_retrainer`)

Each run is a folder `RETRAIN_DIR/run-YYYYmmdd-HHMMSS/` holding `pairs.csv` (the labels as
exported when it started), `train.log` (the command's output) and `model/`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from simsearch.data.pairs import Pairs
from simsearch.data.records import input_fields
from simsearch.data.requirements import check_pairs_trainable
from simsearch.errors import BusyError, ConfigError
from simsearch.server.access import require_retrainer
from simsearch.server.schemas import RetrainRequest, error_responses
from simsearch.tower_kinds import TOWER_KINDS, tower_kind

__all__ = ["RetrainJob", "check_labels_trainable", "router", "train_command"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/review", tags=["review"])

_EPOCH = re.compile(r"Epoch (\d+)/(\d+)")
_PAIR_ARCHITECTURES = ("linear", "mlp", "hybrid", "sequence", "pretrained")
_IMAGE_ARCHITECTURES = ("light", "koch", "mobilenetv3_small", "mobilenetv3_large", "efficientnet_b0")


def train_command(
    config: dict[str, Any], catalogs: Sequence[Path], pairs: Path, out: Path, epochs: int | None = None
) -> list[str]:
    """The `simsearch train --pairs` command that retrains a model of `config` on `pairs`.

    The tower kind and its inputs are the served model's (fields and architecture; for images
    the size, inversion and architecture); everything else is `train`'s default, which keeps the
    non-learned baseline when training does not beat it.
    """
    kind = config.get("kind")
    tower = TOWER_KINDS.get(kind) if isinstance(kind, str) else None
    if tower is None or not tower.trains_on_pairs:
        raise ConfigError(
            "Expected a text, record or image model to retrain from pair labels. Received: "
            f"kind={kind!r}; train face models on one folder of photos per person (train --data)"
        )
    if not catalogs:
        raise ConfigError(
            "Expected the catalogue the index was built from (serve --catalog: the table, or the "
            "image folder, .zip or .npz) to retrain. Received: none"
        )
    if tower.catalogue == "images" and len(catalogs) != 1:
        raise ConfigError(
            f"Expected one image catalogue (serve --catalog) to retrain. Received: {len(catalogs)}"
        )
    command = [sys.executable, "-m", "simsearch", "train", "--pairs", str(pairs)]
    for catalog in catalogs:
        command += ["--catalog", str(catalog)]
    command += ["--tower", tower.name]
    command += _image_options(config) if tower.catalogue == "images" else _table_options(config)
    command += ["--out", str(out)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    return command


def _table_options(config: dict[str, Any]) -> list[str]:
    """The served text or record model's fields and architecture as `train` options."""
    inputs = config.get("inputs", {})
    options = ["--fields", ",".join(input_fields(inputs))]
    if tower_kind(config.get("kind")).typed_fields and inputs.get("numeric_fields"):
        options += ["--numeric-fields", ",".join(inputs["numeric_fields"])]
    settings = config.get("tower_settings", {})
    if settings.get("architecture") in _PAIR_ARCHITECTURES:
        options += ["--architecture", settings["architecture"]]
        if settings["architecture"] in ("hybrid", "pretrained") and settings.get("pretrained"):
            options += ["--pretrained", str(settings["pretrained"])]
    return options


def _image_options(config: dict[str, Any]) -> list[str]:
    """The served image model's size (square; else the catalogue's, as `build-index` reads it),
    inversion and architecture as `train` options. A model that kept raw pixels (its baseline)
    retrains `train`'s default tower, which is measured against raw pixels again."""
    size = config.get("inputs", {}).get("image_size")
    options = ["--image-size", str(size[0])] if size and size[0] == size[1] else []
    settings = config.get("tower_settings", {})
    if settings.get("invert"):
        options.append("--invert")
    architecture = settings.get("architecture")
    if architecture == "linear":
        raise ConfigError(
            "Expected an image model whose architecture trains from pairs. Received: "
            "architecture='linear' (its start whitens within classes); train it with train --data"
        )
    if architecture in _IMAGE_ARCHITECTURES:
        options += ["--architecture", architecture]
        if settings.get("weights"):
            options += ["--backbone-weights", str(settings["weights"])]
        if architecture == "light" and settings.get("filters"):
            options += ["--filters", str(settings["filters"])]
    return options


def check_labels_trainable(exported: str) -> None:
    """Refuse an exported pair file too small to train on, as `simsearch train` would
    (`check_pairs_trainable`, no held-out pairs: small sets are cross-validated)."""
    rows = list(csv.DictReader(io.StringIO(exported)))
    same = np.array([int(row["label"]) for row in rows], np.int8)
    positions = np.arange(len(rows))  # the check counts labels; positions are not read
    check_pairs_trainable(Pairs(positions, positions, same))


class RetrainJob:
    """At most one `simsearch train` subprocess, its run folders under `root`.

    Args:
        root: where run folders are made (created if absent).
        config: the served model's config (its kind, fields, architecture).
        catalogs: the catalogue(s) the labels' ids point into: table(s), or one image folder,
            `.zip` or `.npz`.
        served_model: the served model's directory, which a run never writes.
        index_hint: the served index's directory, to name the new index in the next steps.
    """

    def __init__(
        self,
        root: Path,
        config: dict[str, Any],
        catalogs: Sequence[Path],
        served_model: Path | None = None,
        index_hint: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.config = config
        self.catalogs = [Path(c).resolve() for c in catalogs]
        self.served_model = served_model
        self.index_hint = index_hint
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._run: Path | None = None
        self._started = 0.0
        self._ended: float | None = None

    def start(
        self, exported: str, epochs: int | None = None, command: list[str] | None = None
    ) -> dict[str, Any]:
        """Start a run on the exported labels; `command` replaces `train_command`'s (tests).

        Raises:
            DataError: too few labels to train on.
            ConfigError: a model or catalogue that cannot be retrained from pairs.
            BusyError: a run already in progress.
        """
        if command is None:
            train_command(self.config, self.catalogs, Path("pairs.csv"), Path("model"))  # can it?
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                raise BusyError(f"Expected no retraining in progress. Received: one running in {self._run}")
            check_labels_trainable(exported)
            run = self._new_run()
            (run / "pairs.csv").write_text(exported)
            argv = command or train_command(
                self.config, self.catalogs, run / "pairs.csv", run / "model", epochs
            )
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
            with open(run / "train.log", "wb") as log:
                log.write(("$ " + " ".join(argv) + "\n").encode())
                log.flush()
                self._process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
                )
            self._run, self._started, self._ended = run, time.monotonic(), None
            logger.info("Retraining in %s (pid %d)", run, self._process.pid)
        return self.status()

    def status(self) -> dict[str, Any]:
        """The latest run's state (`idle`, `running`, `succeeded`, `failed`), progress and output."""
        with self._lock:
            process, run = self._process, self._run
            if process is None or run is None:
                return {"state": "idle", "run": None}
            code = process.poll()
            if code is not None and self._ended is None:
                self._ended = time.monotonic()
            seconds = (self._ended or time.monotonic()) - self._started
        lines = _tail(run / "train.log")
        epoch = next((m for line in reversed(lines) if (m := _EPOCH.search(line))), None)
        state = "running" if code is None else "succeeded" if code == 0 else "failed"
        model = run / "model"
        return {
            "state": state,
            "run": str(run),
            "model_dir": str(model),
            "returncode": code,
            "seconds": round(seconds, 1),
            "epoch": None if epoch is None else [int(epoch.group(1)), int(epoch.group(2))],
            "validation": next((line for line in lines if line.startswith("Validation")), None),
            "log_tail": lines[-15:],
            "next_steps": self._next_steps(model) if state == "succeeded" else [],
        }

    def close(self) -> None:
        """Stop a run still in progress (the server is stopping)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                logger.warning("Stopping the retraining in %s: the server is stopping", self._run)
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()

    def _new_run(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.served_model is not None and self.root.resolve().is_relative_to(self.served_model.resolve()):
            raise ConfigError(
                f"Expected a retrain folder outside the served model. Received: '{self.root}' inside "
                f"'{self.served_model}'"
            )
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            run = self.root / (f"run-{stamp}" if n == 0 else f"run-{stamp}-{n}")
            try:
                run.mkdir()
                return run
            except FileExistsError:
                continue
        raise ConfigError(f"Expected a free run folder name in '{self.root}'. Received: 1000 taken")

    def _next_steps(self, model: Path) -> list[str]:
        catalog = " ".join(f"--catalog {c}" for c in self.catalogs[:1]) or "--catalog CATALOG"
        base = self.index_hint if self.index_hint is not None else Path("indexes") / "catalogue"
        index = base.with_name(f"{base.name}-{model.parent.name}")
        return [
            f"simsearch build-index --model {model} {catalog} --index {index}",
            f"simsearch serve --index {index}",
        ]


def _tail(path: Path, size: int = 64 * 1024) -> list[str]:
    """The last lines of a log, without reading all of a long one."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.replace("\r", "\n").splitlines() if line.strip()]


def _job(request: Request) -> RetrainJob:
    job = request.app.state.review.retrain
    if job is None:
        raise ConfigError("Expected a review server that can retrain. Received: none configured")
    return job


_NOT_CONFIGURED = "A review that cannot retrain (none configured)"


@router.get("/retrain", responses=error_responses({400: _NOT_CONFIGURED}))
def retrain_status(request: Request) -> dict[str, Any]:
    """The latest retraining's state, progress, validation line and next steps."""
    return _job(request).status()


@router.post(
    "/retrain",
    status_code=202,
    dependencies=[Depends(require_retrainer)],
    responses=error_responses(
        {
            400: "Too few labels, no --catalog, or a model that cannot retrain from pairs",
            401: "Missing or wrong X-API-Key (a server with a key)",
            403: "A server with neither --api-key nor --allow-retrain",
            409: "A retraining is running",
            413: "Body too large",
            415: "Not application/json",
            422: "Not the request schema",
        }
    ),
)
def retrain(request: Request, body: RetrainRequest | None = None) -> JSONResponse:
    """Start retraining on the labels so far (a subprocess; poll GET /review/retrain); 400 when
    they are too few, 409 while a retraining runs."""
    epochs = None if body is None else body.epochs
    started = _job(request).start(request.app.state.review.log.export(), epochs=epochs)
    return JSONResponse(started, status_code=202)
