"""Images on the review pages: pair cards and group members link to `/review/image`, which reads
the file from the catalogue the index was built from (a class-folder tree, its `.zip`, or the
bundled Omniglot `.npz`) and nothing else: not a file beside the catalogue's, not a path with
`..`, not an item outside the index."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from PIL import Image

from simsearch.cli import cli
from simsearch.errors import UnknownIdError

N_DRAWINGS = 30


def write_drawings(root: Path, n: int = N_DRAWINGS) -> Path:
    """The first `n` drawings of the bundled Omniglot evaluation sample as a class-folder tree of
    PNG files (`alphabet/character/k.png`)."""
    from simsearch.datasets import omniglot_sample

    arrays = np.load(omniglot_sample("evaluation"))
    for image, item_id in zip(arrays["images"][:n], arrays["ids"][:n].tolist(), strict=True):
        path = root / f"{item_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return root


def image_review(model_dir: Path, folder: Path, tmp_path: Path) -> tuple[Path, Path]:
    """An index of the image folder (28×28, the test model's size) and its dedup pairs."""
    from simsearch.data.image_folder import load_image_folder
    from simsearch.engine import build_index

    items = load_image_folder(folder, image_size=(28, 28), labelled=False)
    index = tmp_path / "index"
    build_index(model_dir, items, index, factory="Flat")
    pairs = tmp_path / "pairs.csv"
    args = ["dedup", "--index", str(index), "--out", str(pairs), "--no-rerank", "--threshold", "2", "-k", "3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return index, pairs


def _client(index: Path, pairs: Path, catalog: Path | None, *, allow_retrain: bool = False) -> TestClient:
    from simsearch.engine import SearchEngine
    from simsearch.server import IndexService, ServerConfig, create_app
    from simsearch.server.review import open_review

    engine = SearchEngine.load(index)
    review = open_review(
        engine, pairs, catalogs=[] if catalog is None else [catalog], allow_retrain=allow_retrain
    )
    return TestClient(create_app(IndexService(engine, ServerConfig()), review))


@pytest.fixture(scope="module")
def drawings(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("drawings")
    folder = write_drawings(root / "catalogue")
    (root / "secret.png").write_bytes((folder / next(iter(_files(folder)))).read_bytes())  # beside it
    index, pairs = image_review(model_dir, folder, root)
    return folder, index, pairs


@pytest.fixture()
def client(drawings: tuple[Path, Path, Path]) -> Iterator[TestClient]:
    folder, index, pairs = drawings
    with _client(index, pairs, folder) as client:
        yield client


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def _decoded(response: Any) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def test_pair_cards_show_both_images(client: TestClient, drawings: tuple[Path, Path, Path]) -> None:
    folder = drawings[0]
    pair = client.get("/review/next").json()["pair"]
    assert client.get("/review/info").json()["images"] is True
    for side in ("left", "right"):
        url = pair[f"{side}_image"]
        assert url.startswith("/review/image?id=")
        response = client.get(url)
        assert response.headers["content-type"] == "image/png"
        assert response.content == (folder / pair[f"{side}_id"]).read_bytes()  # the catalogue's file
        assert _decoded(response).size == (28, 28)


def test_group_members_show_their_images(client: TestClient) -> None:
    group = client.get("/review/groups/list", params={"limit": 1}).json()["groups"][0]
    assert all(_decoded(client.get(m["image"])).size == (28, 28) for m in group["members"])


@pytest.mark.parametrize(
    "item_id",
    [
        "../secret.png",  # beside the catalogue
        "/etc/passwd",
        "Angelic/../../secret.png",
        "Angelic/character01/999.png",  # the pattern of an item, not one
        "%2e%2e/secret.png",
        "",
    ],
    ids=["parent", "absolute", "dotdot-inside", "not-indexed", "encoded", "empty"],
)
def test_only_catalogue_items_are_served(client: TestClient, item_id: str) -> None:
    response = client.get("/review/image", params={"id": item_id})
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Expected an id of the served index. Received:")


def test_an_indexed_id_that_is_no_safe_path_is_refused(tmp_path: Path) -> None:
    from simsearch.server.images import FolderImages

    (tmp_path / "catalogue").mkdir()
    (tmp_path / "x.png").write_bytes(b"not served")
    images = FolderImages(tmp_path / "catalogue", {"../x.png", ".hidden/x.png", "a/b.txt"})
    for item_id in ("../x.png", ".hidden/x.png", "a/b.txt"):  # ids an API write could have added
        with pytest.raises(UnknownIdError, match="Expected an id that is a relative image path"):
            images.read(item_id)


def test_zip_catalogue(drawings: tuple[Path, Path, Path], tmp_path: Path) -> None:
    folder, index, pairs = drawings
    archive = tmp_path / "catalogue.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in _files(folder):
            z.write(folder / name, f"wrapper/{name}")  # one top-level wrapper folder, as zips have
    with _client(index, pairs, archive) as client:
        pair = client.get("/review/next").json()["pair"]
        response = client.get(pair["left_image"])
        missing = client.get("/review/image", params={"id": "../secret.png"})
    assert response.content == (folder / pair["left_id"]).read_bytes()
    assert missing.status_code == 404


def test_npz_catalogue_the_bundled_sample(built_index: Path, tmp_path: Path) -> None:
    from simsearch.datasets import omniglot_sample
    from simsearch.engine import SearchEngine

    first = SearchEngine.load(built_index).index.ids[:2].tolist()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        f'{{"left_id": "{first[0]}", "right_id": "{first[1]}", "distance": 0.2, "score": null}}\n'
    )
    with _client(built_index, pairs, omniglot_sample("evaluation")) as client:
        pair = client.get("/review/next").json()["pair"]
        image = _decoded(client.get(pair["left_image"]))
        unknown = client.get("/review/image", params={"id": "no/such/item"})
    expected = np.load(omniglot_sample("evaluation"))["images"][0]
    assert image.size == (28, 28) and np.array_equal(np.asarray(image), expected)
    assert unknown.status_code == 404


def test_an_image_index_without_its_catalogue_says_so(drawings: tuple[Path, Path, Path]) -> None:
    _, index, pairs = drawings
    with _client(index, pairs, None) as client:
        info = client.get("/review/info").json()
        pair = client.get("/review/next").json()["pair"]
    assert "--catalog" in info["images_note"] and pair["left_image"] is None


def test_links_are_followed_only_inside_the_catalogue(tmp_path: Path) -> None:
    """A symbolic link is resolved, and served only when it leads to a regular file inside the
    resolved catalogue root (which may itself be reached through a link)."""
    from simsearch.server.images import FolderImages

    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    (real / "a" / "1.png").write_bytes(b"\x89PNG inside")
    (tmp_path / "secret.png").write_bytes(b"\x89PNG outside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "3.png").write_bytes(b"\x89PNG outside too")
    (real / "a" / "in.png").symlink_to(real / "a" / "1.png")  # a link inside: served
    (real / "a" / "out.png").symlink_to(tmp_path / "secret.png")  # a link out: refused
    (real / "b").symlink_to(tmp_path / "outside", target_is_directory=True)  # a folder link out
    (real / "a" / "dir.png").mkdir()  # not a regular file
    root = tmp_path / "catalogue"
    root.symlink_to(real, target_is_directory=True)
    images = FolderImages(root, {"a/1.png", "a/in.png", "a/out.png", "b/3.png", "a/dir.png"})
    assert images.read("a/1.png") == (b"\x89PNG inside", "image/png")
    assert images.read("a/in.png") == (b"\x89PNG inside", "image/png")
    for item_id in ("a/out.png", "b/3.png", "a/dir.png"):
        with pytest.raises(UnknownIdError, match=r"a regular file under .* no such file, or a link out"):
            images.read(item_id)


def test_a_link_out_of_the_catalogue_is_a_404(drawings: tuple[Path, Path, Path], tmp_path: Path) -> None:
    folder, index, pairs = drawings
    copy = tmp_path / "catalogue"
    shutil.copytree(folder, copy)
    linked = _files(copy)[0]
    (copy / linked).unlink()
    (copy / linked).symlink_to(folder.parent / "secret.png")  # an indexed id's file, now a link out
    with _client(index, pairs, copy) as client:
        refused = client.get("/review/image", params={"id": linked})
        served = client.get("/review/image", params={"id": _files(copy)[1]})
    assert refused.status_code == 404 and "a link out of the folder" in refused.json()["detail"]
    assert served.status_code == 200 and served.content == (folder / _files(copy)[1]).read_bytes()
