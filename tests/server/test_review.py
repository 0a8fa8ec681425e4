"""The review and labelling page end to end: `simsearch serve --review` over a record index and a
dedup output, driven in headless Chromium by its keys (Selenium with Debian's chromedriver), the
labels checked on disk after `kill -9`, exported, and read back as a `train --pairs` file."""

from __future__ import annotations

import os
import shutil
import time
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
    args = ("--review", str(pairs), "--labels", str(labels), "--catalog", str(record_index.catalog),
            "--allow-retrain")  # fmt: skip
    server = Server(index, *args, log=tmp_path / "server.log").start()
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
        # each field marked by the pair's explanation, and the explanation's lines below
        marked = browser.find_elements(By.CSS_SELECTOR, "#left tr.agrees, #left tr.differs")  # type: ignore[attr-defined]
        assert len(marked) == 2
        assert browser.find_element(By.ID, "why").text.startswith("why")  # type: ignore[attr-defined]
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


def _screenshot(browser: object, name: str, tmp_path: Path) -> None:
    """Save the page to SIMSEARCH_SCREENSHOT_DIR/NAME (docs/ when regenerating), else tmp_path."""
    folder = Path(os.environ.get("SIMSEARCH_SCREENSHOT_DIR") or tmp_path)
    browser.save_screenshot(str(folder / name))  # type: ignore[attr-defined]


def test_groups_view_mark_a_member_out_undo_and_page(review: tuple[Server, Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, labels = review
    browser = _browser(tmp_path)
    try:
        browser.get(f"{server.url}/review/groups")  # type: ignore[attr-defined]
        wait = WebDriverWait(browser, 30)

        def text(element_id: str) -> str:
            return browser.find_element(By.ID, element_id).text  # type: ignore[attr-defined]

        wait.until(lambda _: text("pager").startswith("groups 1-"))
        first = browser.find_elements(By.CSS_SELECTOR, ".group")[0]  # type: ignore[attr-defined]
        assert "name" in first.text and "price" in first.text  # each member's stored fields
        button = first.find_element(By.CSS_SELECTOR, "button.mark")
        button.click()
        wait.until(lambda _: "different (saved)" in text("status"))
        assert browser.find_elements(By.CSS_SELECTOR, ".group .member.excluded")  # type: ignore[attr-defined]
        assert list(LabelLog(labels).labels.values()) == ["different"]
        _screenshot(browser, "review-groups.png", tmp_path)
        browser.find_element(By.TAG_NAME, "body").send_keys("z")  # type: ignore[attr-defined]
        wait.until(lambda _: text("status").startswith("undone: "))
        assert not browser.find_elements(By.CSS_SELECTOR, ".member.excluded")  # type: ignore[attr-defined]
        browser.find_elements(By.CSS_SELECTOR, "button.mark")[0].click()  # type: ignore[attr-defined]
        wait.until(lambda _: "different (saved)" in text("status"))
    finally:
        browser.quit()  # type: ignore[attr-defined]
    server.kill()  # kill -9: the acknowledged mark is on disk
    assert list(LabelLog(labels).labels.values()) == ["different"]


@pytest.fixture()
def image_review(model_dir: Path, shared_or_bundled_images: Path, tmp_path: Path) -> Iterator[Server]:
    from tests.server.test_review_images import image_review

    index, pairs = image_review(model_dir, shared_or_bundled_images, tmp_path)
    args = ("--review", str(pairs), "--catalog", str(shared_or_bundled_images))
    server = Server(index, *args, log=tmp_path / "server.log").start()
    yield server
    server.kill()


@pytest.fixture()
def shared_or_bundled_images(tmp_path: Path) -> Path:
    """Faces of 4 ORL people (class folders linked from ../shared/data), else the bundled Omniglot
    sample's first drawings written as a class-folder tree."""
    from tests.conftest import ORL_FACES
    from tests.server.test_review_images import write_drawings

    root = tmp_path / "catalogue"
    root.mkdir()
    if not ORL_FACES.is_dir():
        return write_drawings(root)
    for person in ("s1", "s2", "s3", "s4"):  # copies: links out of the catalogue are not served
        shutil.copytree(ORL_FACES / person, root / person)
    return root


def test_image_pairs_side_by_side_label_with_keys(image_review: Server, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser(tmp_path)
    try:
        browser.get(f"{image_review.url}/review")  # type: ignore[attr-defined]
        wait = WebDriverWait(browser, 30)
        loaded = "const i = document.getElementById(arguments[0]); return i && i.complete && i.naturalWidth"

        def shown(element_id: str) -> int:
            return int(browser.execute_script(loaded, element_id) or 0)  # type: ignore[attr-defined]

        wait.until(lambda _: shown("left-image") and shown("right-image"))
        def pair() -> tuple[str, str]:  # the next pair may share an item with this one
            return tuple(browser.find_element(By.ID, side).text for side in ("left", "right"))  # type: ignore[attr-defined,return-value]

        first = pair()
        browser.find_element(By.TAG_NAME, "body").send_keys("d")  # type: ignore[attr-defined]
        wait.until(lambda _: browser.find_element(By.ID, "count").text.startswith("1 / "))  # type: ignore[attr-defined]
        wait.until(lambda _: shown("left-image") and shown("right-image") and pair() != first)
        _screenshot(browser, "review-image-pairs.png", tmp_path)
        browser.get(f"{image_review.url}/review/groups")  # type: ignore[attr-defined]
        all_shown = "return [...document.images].every((i) => i.complete && i.naturalWidth > 0)"
        wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, ".member img"))  # type: ignore[attr-defined]
        wait.until(lambda _: browser.execute_script(all_shown))  # type: ignore[attr-defined]
        _screenshot(browser, "review-image-groups.png", tmp_path)
        browser.find_elements(By.CSS_SELECTOR, "button.mark")[0].click()  # type: ignore[attr-defined]
        status = browser.find_element(By.ID, "status")  # type: ignore[attr-defined]
        wait.until(lambda _: "different (saved)" in status.text)  # a text id, as the folder's paths
    finally:
        browser.quit()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_retrain_from_the_page(
    review: tuple[Server, Path], tmp_path: Path, record_index: RecordIndex
) -> None:
    """The retrain button runs `simsearch train --pairs` on the labels in a subprocess while the
    API keeps answering, and writes a new model beside the labels; the served one is untouched."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from simsearch.model_config import model_hash

    server, labels = review
    served = model_hash(record_index.model_dir)
    with server.client() as client:
        for n in range(12):  # the pairs the page offers
            pair = client.get("/review/next").json()["pair"]
            assert pair is not None, f"only {n} candidate pairs"
            label = "same" if n % 2 else "different"
            body = {"left_id": pair["left_id"], "right_id": pair["right_id"], "label": label}
            assert client.post("/review/label", json=body).status_code == 200
    browser = _browser(tmp_path)
    try:
        browser.get(f"{server.url}/review")  # type: ignore[attr-defined]
        wait = WebDriverWait(browser, 300)
        browser.find_element(By.ID, "retrain-epochs").send_keys("2")  # type: ignore[attr-defined]
        browser.find_element(By.ID, "retrain-start").click()  # type: ignore[attr-defined]

        def status() -> str:
            return browser.find_element(By.ID, "retrain-status").text  # type: ignore[attr-defined]

        wait.until(lambda _: "retraining running" in status(), message=status())
        started = time.monotonic()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200  # not blocked by TF
        assert time.monotonic() - started < 5
        wait.until(lambda _: "retraining succeeded" in status() or "failed" in status())
        assert "retraining succeeded" in status(), status()
        assert "Validation on" in status()
        steps = browser.find_element(By.ID, "next-steps").text  # type: ignore[attr-defined]
        assert "simsearch build-index --model" in steps
        _screenshot(browser, "review-retrain.png", tmp_path)
    finally:
        browser.quit()  # type: ignore[attr-defined]
    job = httpx.get(f"{server.url}/review/retrain").json()
    model = Path(job["model_dir"])
    assert (model / "config.json").is_file() and model.parent.parent == labels.with_name("labels.retrain")
    assert model_hash(record_index.model_dir) == served
