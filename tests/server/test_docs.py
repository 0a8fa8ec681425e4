"""`/docs` and `/redoc` with no network: Swagger UI's and ReDoc's assets come from the server
itself, and both pages render in headless Chromium with every host but the server's unreachable.
`/` redirects to `/docs`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.conftest import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline but for the server
]


def test_root_redirects_to_docs_whose_assets_are_local(server: Server) -> None:
    with server.client() as client:
        root = client.get("/", follow_redirects=False)
        assert root.status_code in (302, 307) and root.headers["location"] == "/docs"
        page = client.get("/docs").text
        assert "/docs-assets/swagger-ui-bundle.js" in page and "/docs-assets/swagger-ui.css" in page
        assert "cdn" not in page.lower() and "https://" not in page
        script = client.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 500_000
        assert client.get("/openapi.json").json()["info"]["title"] == "simsearch"
        redoc = client.get("/redoc").text
        assert "/docs-assets/redoc.standalone.js" in redoc and "https://" not in redoc


def chromium(url: str, tmp_path: Path, *args: str) -> str:
    """Load `url` in headless Chromium (a fresh profile), let its scripts run, return stdout."""
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (apt-get install chromium; .ci/run installs it when it can)")
    command = [CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_docs_render_offline_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    dom = chromium(f"{server.url}/docs", tmp_path, "--virtual-time-budget=15000", "--dump-dom")
    # Swagger UI drew the operations from /openapi.json: none of this is in the served HTML.
    assert 'class="swagger-ui"' in dom and "opblock" in dom
    for path in ("/search", "/compare", "/items"):
        assert f'data-path="{path}"' in dom, path
    shot = tmp_path / "docs.png"
    chromium(f"{server.url}/docs", tmp_path, "--virtual-time-budget=15000", "--window-size=1280,900",
             f"--screenshot={shot}")  # fmt: skip
    assert shot.stat().st_size > 10_000


def test_redoc_renders_offline_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    dom = chromium(f"{server.url}/redoc", tmp_path, "--virtual-time-budget=15000", "--dump-dom")
    assert 'data-section-id="operation/search_search_post"' in dom
