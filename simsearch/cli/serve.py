"""`simsearch serve`: the HTTP query service over one index directory (see `simsearch.server`)."""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import logging
import socket
from pathlib import Path
from typing import Any

import click

from simsearch.cli._index_dir import INDEX

_PATH = click.Path(exists=True, path_type=Path)
_MIB = 1024 * 1024

logger = logging.getLogger(__name__)


@click.command("serve")
@click.option("--index", "index_dir", type=INDEX, required=True, help="Index directory from `build-index`.")
@click.option(
    "--model", "model_dir", type=_PATH, help="Model directory (default: the one the index records)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port."
)
@click.option(
    "--api-key",
    envvar="SIMSEARCH_API_KEY",
    show_envvar=True,
    help="Key that write requests send in X-API-Key.",
)
@click.option("--allow-writes", is_flag=True, help="Accept writes without an API key (trusted callers only).")
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Most queries per search, items per write.",
)
@click.option(
    "--max-k",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Largest k and re-rank depth; range searches return at most this many hits.",
)
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=16 * _MIB, show_default=True)
@click.option(
    "--batching/--no-batching",
    default=True,
    show_default=True,
    help="Run concurrent searches, encodings and writes as batches.",
)
@click.option(
    "--batch-window-ms",
    type=click.FloatRange(0, 1000),
    default=0.0,
    show_default=True,
    help="How long a batch waits for more requests after the first.",
)
@click.option(
    "--checkpoint-bytes",
    type=click.IntRange(min=1),
    default=64 * _MIB,
    show_default=True,
    help="Save the index (and empty the journal of writes) once the journal holds this many bytes.",
)
@click.option(
    "--reranker",
    type=_PATH,
    help="A cross-encoder directory (`simsearch train-reranker`): searches by raw items or ids "
    "re-score their top 50 with it (text and record models).",
)
@click.option(
    "--load-model",
    is_flag=True,
    help="Load the model at start. By default it loads on the first request that needs it (raw "
    "items, compare, identify, re-ranking): a server of searches by vector or id never imports "
    "TensorFlow.",
)
@click.option(
    "--faiss-threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="FAISS's OpenMP threads per search call: concurrent requests already use the cores, and "
    "OpenMP's spin-waiting slows everything on a busy machine.",
)
@click.option(
    "--review",
    "review_pairs",
    type=_PATH,
    help="Candidate pairs (a dedup or match output) to review and label at /review, least "
    "certain first; labels export as a `train --pairs` file.",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path),
    help="Where --review's labels are kept, as JSON lines (default: PAIRS.labels.jsonl beside it).",
)
@click.option(
    "--groups",
    "review_groups",
    type=_PATH,
    help="Duplicate groups (`dedup --groups` output) for --review's groups view at /review/groups "
    "(default: the review pairs grouped by average linkage).",
)
@click.option(
    "--catalog",
    "catalogs",
    type=_PATH,
    multiple=True,
    help="With --review: the catalogue the index was built from (image folder, .zip or .npz: "
    "the pages show the images; table: neither); retraining reads it. Twice for a match: A then B.",
)
@click.option(
    "--retrain-dir",
    type=click.Path(path_type=Path),
    help="Where --review's retraining writes its runs and new models (default: LABELS.retrain/ "
    "beside the labels); never the served model.",
)
@click.option(
    "--allow-retrain",
    is_flag=True,
    help="With --review and no --api-key: let the page's retrain button start a training process "
    "(with a key, requests that send it may; without either, retraining is refused).",
)
@click.pass_context
def serve(
    ctx: click.Context, index_dir: Path, model_dir: Path | None, host: str, port: int, **options: Any
) -> None:
    """Serve an index over HTTP: search, compare, get, add, upsert, delete (OpenAPI at /docs).

    Writes need --api-key (or SIMSEARCH_API_KEY), or --allow-writes; an acknowledged write is on
    disk. With a key, --review's labels and retraining need it too (the page asks for it once).
    A server with writes is the index's one writer while it runs: it refuses to start while
    another process writes the index, and `simsearch add`/`delete`/`build-index`/`enrol` wait for
    it to stop (or fail with --no-wait). Stops on Ctrl-C or SIGTERM, saving the index first.
    """
    from simsearch.server.config import ServerConfig

    config = ServerConfig(
        api_key=options["api_key"] or None,
        allow_writes=options["allow_writes"],
        max_batch=options["max_batch"],
        max_k=options["max_k"],
        max_body_bytes=options["max_body_bytes"],
        batching=options["batching"],
        batch_window_ms=options["batch_window_ms"],
        checkpoint_bytes=options["checkpoint_bytes"],
    )
    _check_review_options(options)
    sock = _bind(host, port)
    with _writer(index_dir, config.writes != "disabled"):
        import faiss

        faiss.omp_set_num_threads(options["faiss_threads"])
        IndexService, create_app, FastSearch = _server()
        from simsearch.engine import SearchEngine
        from simsearch.lazy_model import LazyModel

        try:
            engine = SearchEngine.load(index_dir, model_dir=model_dir, reranker=options["reranker"])
            if engine.has_model and options["load_model"] and isinstance(engine.model, LazyModel):
                engine.model.loaded  # noqa: B018
            if engine.has_model and (options["load_model"] or not isinstance(engine.model, LazyModel)):
                engine.model.head  # noqa: B018  (read now: a damaged head.keras stops the start, not a request)
            # the review files are checked before the service starts
            review = _review(engine, index_dir, options) if options["review_pairs"] else None
            service = IndexService(engine, config).start()
        except BaseException:
            sock.close()  # refused to start: nothing listens
            raise
        address = sock.getsockname()
        click.echo(
            f"Serving {len(service.engine.index)} items from {index_dir} on http://{_url_host(address[0])}:"
            f"{address[1]} (writes: {config.writes})",
            err=True,
        )
        # What is loaded now (the index's tables, the model) lives as long as the server: the
        # collector need not walk it at every full collection, a pause of every request then.
        gc.collect()
        gc.freeze()
        # FastSearch answers cheap searches by vector before the app's middleware and routing
        _run(FastSearch(create_app(service, review), service), sock, ctx.find_root().params.get("verbose", 0))


def _writer(index_dir: Path, writes: bool) -> contextlib.AbstractContextManager[Any]:
    """The index's writer lock for the server's life when it takes writes (taken from before it
    loads the index, so no other writer's save can slip in between); nothing when read-only."""
    if not writes:
        return contextlib.nullcontext()
    from simsearch.cli._index_dir import writing

    return writing(index_dir, wait=False)


def _check_review_options(options: dict[str, Any]) -> None:
    from simsearch.errors import ConfigError

    names = {
        "groups": "review_groups",
        "catalog": "catalogs",
        "retrain-dir": "retrain_dir",
        "labels": "labels",
        "allow-retrain": "allow_retrain",
    }
    given = [f"--{flag}" for flag, key in names.items() if options[key]]
    if given and not options["review_pairs"]:
        raise ConfigError(f"Expected --review PAIRS with {', '.join(given)}. Received: no --review")


def _review(engine: Any, index_dir: Path, options: dict[str, Any]) -> Any:
    from simsearch.server.review import open_review

    return open_review(
        engine,
        options["review_pairs"],
        labels=options["labels"],
        groups=options["review_groups"],
        catalogs=options["catalogs"],
        retrain_dir=options["retrain_dir"],
        index_dir=index_dir,
        allow_retrain=options["allow_retrain"],
    )


def _server() -> tuple[Any, Any, Any]:
    from simsearch.errors import ConfigError

    try:
        from simsearch.server import FastSearch, IndexService, create_app
    except ImportError as exc:
        raise ConfigError(
            f"Expected the server's packages (pip install 'simsearch[server]'). Received: {exc}"
        ) from exc
    return IndexService, create_app, FastSearch


def _bind(host: str, port: int) -> socket.socket:
    """Bind and listen before loading, so a busy port fails fast and early callers queue."""
    from simsearch.errors import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise ConfigError(f"Expected an address to listen on. Received: {host}:{port} ({exc})") from exc
    sock.listen(1024)
    if not _is_loopback(str(address[0])):
        logger.warning("Listening on %s: reachable from other machines", address[0])
    return sock


def _run(app: Any, sock: socket.socket, verbose: int) -> None:
    import uvicorn

    level = "info" if verbose >= 1 else "warning"
    config = uvicorn.Config(app, log_level=level, access_log=verbose >= 2, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
