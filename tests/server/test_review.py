"""The review and labelling page end to end: `simsearch serve --review` over a record index and a
dedup output, driven in headless Chromium by its keys (Selenium with Debian's chromedriver), the
labels checked on disk after `kill -9`, exported, and read back as a `train --pairs` file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from simsearch.server.labels import LabelLog
from tests.conftest import RecordIndex
from tests.server.conftest import Server

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--window-size=1280,800"]  # fmt: skip


@pytest.fixture()
def review(record_index: RecordIndex, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    index = Path(shutil.copytree(record_index.index_dir, tmp_path / "index"))
    pairs = tmp_path / "pairs.csv"
    args = ["dedup", "--index", str(index), "--out", str(pairs), "--no-rerank", "--threshold", "2", "-k", "3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    labels = tmp_path / "labels.jsonl"
    server = Server(
        index, "--review", str(pairs), "--labels", str(labels), log=tmp_path / "server.log"
    ).start()
    yield server, labels
    server.kill()


def _browser(tmp_path: Path) -> object:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium or chromedriver not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def test_label_pairs_with_keys_undo_export(
    review: tuple[Server, Path], tmp_path: Path, record_index: RecordIndex
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, labels = review
    browser = _browser(tmp_path)
    try:
        browser.get(f"{server.url}/review")  # type: ignore[attr-defined]
        wait = WebDriverWait(browser, 30)

        def count() -> str:
            return browser.find_element(By.ID, "count").text  # type: ignore[attr-defined]

        wait.until(lambda _: count().startswith("0 / "))
        total = int(count().split("/")[1].split()[0])
        body = browser.find_element(By.TAG_NAME, "body")  # type: ignore[attr-defined]
        first = browser.find_element(By.ID, "left").text  # type: ignore[attr-defined]
        assert "name" in first and "price" in first  # the items' stored fields, side by side
        for key, done in (("s", 1), ("d", 2), ("z", 1), ("u", 2)):
            body.send_keys(key)
            wait.until(lambda _, done=done: count().startswith(f"{done} / {total}"))
        shot = os.environ.get("SIMSEARCH_REVIEW_SCREENSHOT") or str(tmp_path / "review.png")
        browser.save_screenshot(shot)  # type: ignore[attr-defined]
    finally:
        browser.quit()  # type: ignore[attr-defined]
    server.kill()  # kill -9: every acknowledged label is on disk
    assert sorted(LabelLog(labels).labels.values()) == ["same", "unsure"]
    exported = tmp_path / "train_pairs.csv"
    restarted = Server(server.index, "--review", str(tmp_path / "pairs.csv"), "--labels", str(labels),
                       log=tmp_path / "server2.log").start()  # fmt: skip
    try:
        exported.write_text(httpx.get(f"{restarted.url}/review/export").text)
        progress = httpx.get(f"{restarted.url}/review/next").json()["progress"]
    finally:
        restarted.kill()
    assert progress["labelled"] == 2
    from simsearch.data.loaders import load_pairs, load_table

    pairs = load_pairs(exported, load_table(record_index.catalog, fields=["name", "price"]))
    assert pairs.same.tolist() == [1]  # the `same`; `unsure` is left out of the pair file
