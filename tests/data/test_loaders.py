"""Tests of the loaders: image folders and zips, arrays, npz, tables and pair files."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simsearch.data import (
    load_arrays,
    load_image_catalog,
    load_image_folder,
    load_items,
    load_npz,
    load_pairs,
    load_table,
)
from simsearch.datasets import omniglot_sample
from simsearch.errors import ConfigError, DataError


def _png(path: Path, value: int, size: tuple[int, int] = (6, 5), mode: str = "L") -> None:
    """Write a flat image of `value` with `size = (h, w)`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, (size[1], size[0]), colour).save(path)


@pytest.fixture()
def flat_tree(tmp_path: Path) -> Path:
    root = tmp_path / "flat"
    _png(root / "cat" / "1.png", 0)
    _png(root / "cat" / "2.bmp", 255)
    _png(root / "dog" / "1.gif", 51)
    return root


@pytest.fixture()
def nested_tree(tmp_path: Path) -> Path:
    root = tmp_path / "nested"
    for alphabet in ("Greek", "Latin"):
        for character in ("character01", "character02"):
            for drawer in ("01", "02"):
                _png(root / alphabet / character / f"{drawer}.png", 255)
    return root


# --- image folders -------------------------------------------------------------------------------


def test_image_folder_flat_tree_labels_ids_and_pixels(flat_tree: Path) -> None:
    items = load_image_folder(flat_tree)
    assert items.classes == ("cat", "dog")
    assert items.ids.tolist() == ["cat/1.png", "cat/2.bmp", "dog/1.gif"]
    assert items.labels.tolist() == [0, 0, 1]
    assert items.groups is None
    assert items.images is not None
    assert items.images.shape == (3, 6, 5, 1)
    assert items.images.dtype == np.float32
    np.testing.assert_allclose(items.images[:, 0, 0, 0], [0.0, 1.0, 0.2], atol=1e-6)


def test_image_folder_nested_tree_gives_classes_and_groups(nested_tree: Path) -> None:
    items = load_image_folder(nested_tree)
    assert items.classes == (
        "Greek/character01",
        "Greek/character02",
        "Latin/character01",
        "Latin/character02",
    )
    assert items.groups is not None
    assert items.groups.tolist() == ["Greek"] * 4 + ["Latin"] * 4
    assert items.ids[0] == "Greek/character01/01.png"
    assert np.bincount(items.labels).tolist() == [2, 2, 2, 2]


def test_image_folder_skips_loose_and_hidden_files(flat_tree: Path, caplog) -> None:
    _png(flat_tree / "loose.png", 0)
    _png(flat_tree / "cat" / ".hidden.png", 0)
    (flat_tree / "cat" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        items = load_image_folder(flat_tree)
    assert len(items) == 3
    assert "outside class folders" in caplog.text


def _zip_tree(root: Path, target: Path, wrapper: str) -> Path:
    prefix = f"{wrapper}/" if wrapper else ""
    with zipfile.ZipFile(target, "w") as archive:
        if wrapper:
            archive.writestr(prefix, "")
        for file in sorted(root.rglob("*.png")):
            rel = file.relative_to(root)
            archive.write(file, f"{prefix}{rel.as_posix()}")
            mac_copy = f"__MACOSX/{prefix}{rel.parent.as_posix()}/._{rel.name}"
            archive.writestr(mac_copy, b"mac resource fork")
    return target


@pytest.mark.parametrize("wrapper", ["images_background_small1", ""], ids=["wrapped", "bare"])
def test_image_zip_matches_folder(nested_tree: Path, tmp_path: Path, wrapper: str) -> None:
    from_zip = load_image_folder(_zip_tree(nested_tree, tmp_path / "tree.zip", wrapper))
    from_folder = load_image_folder(nested_tree)
    assert from_zip.classes == from_folder.classes
    assert from_zip.ids.tolist() == from_folder.ids.tolist()
    assert from_zip.groups is not None
    assert from_zip.groups.tolist() == from_folder.groups.tolist()
    np.testing.assert_array_equal(from_zip.images, from_folder.images)


def test_image_zip_with_one_class_folder_is_not_unwrapped(tmp_path: Path) -> None:
    root = tmp_path / "one"
    _png(root / "only" / "1.png", 0)
    _png(root / "only" / "2.png", 0)
    with pytest.raises(DataError, match=r"Expected at least 2 classes\. Received: classes=1"):
        load_image_folder(_zip_tree(root, tmp_path / "one.zip", ""))


def test_image_folder_mixed_sizes_resize_to_most_common(flat_tree: Path, caplog) -> None:
    _png(flat_tree / "dog" / "2.png", 0, size=(12, 10))
    with caplog.at_level(logging.WARNING):
        items = load_image_folder(flat_tree)
    assert items.images is not None
    assert items.images.shape == (4, 6, 5, 1)
    assert "6x5 (3)" in caplog.text
    assert "12x10 (1)" in caplog.text
    assert items.images[3].max() == 0.0  # a black image stays black when shrunk


def test_image_folder_image_size_resizes_everything(flat_tree: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        items = load_image_folder(flat_tree, image_size=(4, 3))
    assert items.images is not None
    assert items.images.shape == (3, 4, 3, 1)
    np.testing.assert_allclose(items.images[:, 2, 1, 0], [0.0, 1.0, 0.2], atol=1e-6)
    assert caplog.text == ""


def test_image_folder_colour_gives_three_channels(flat_tree: Path) -> None:
    _png(flat_tree / "dog" / "red.png", 200, mode="RGB")
    items = load_image_folder(flat_tree)
    assert items.images is not None
    assert items.images.shape[-1] == 3
    red = items.images[items.ids.tolist().index("dog/red.png"), 0, 0]
    np.testing.assert_allclose(red, [200 / 255, 0.0, 55 / 255], atol=1e-6)
    grey = items.images[items.ids.tolist().index("cat/2.bmp"), 0, 0]
    np.testing.assert_allclose(grey, [1.0, 1.0, 1.0])


def test_image_folder_grey_rgb_files_stay_one_channel(tmp_path: Path) -> None:
    for name in ("a", "b"):
        path = tmp_path / name / "1.png"
        path.parent.mkdir()
        Image.new("RGB", (4, 4), (90, 90, 90)).save(path)
    items = load_image_folder(tmp_path)
    assert items.images is not None
    assert items.images.shape == (2, 4, 4, 1)
    forced = load_image_folder(tmp_path, channels=3)
    assert forced.images is not None
    assert forced.images.shape == (2, 4, 4, 3)


def test_image_folder_one_class_error(tmp_path: Path) -> None:
    _png(tmp_path / "only" / "1.png", 0)
    _png(tmp_path / "only" / "2.png", 0)
    with pytest.raises(DataError, match=r"Expected at least 2 classes\. Received: classes=1 in '"):
        load_image_folder(tmp_path)


def test_image_folder_errors(tmp_path: Path, flat_tree: Path) -> None:
    with pytest.raises(DataError, match="missing"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="Received: none in"):
        load_image_folder(tmp_path / "empty")
    (flat_tree / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"Expected a readable image\. Received: 'dog/broken\.png'"):
        load_image_folder(flat_tree)
    with pytest.raises(ConfigError, match="channels"):
        load_image_folder(flat_tree, channels=2)


def test_official_omniglot_zip(shared_data: Path) -> None:
    items = load_image_folder(shared_data / "omniglot" / "images_background_small1.zip")
    assert len(items) == 2720
    assert len(items.classes) == 136
    assert items.groups is not None
    assert len(set(items.groups.tolist())) == 5
    assert items.images is not None
    assert items.images.shape[1:] == (105, 105, 1)
    assert set(np.unique(items.images).tolist()) == {0.0, 1.0}


# --- arrays and npz ------------------------------------------------------------------------------


def test_load_arrays_scales_uint8_and_maps_str_labels() -> None:
    images = np.full((3, 2, 2), 255, dtype=np.uint8)
    images[1] = 51
    items = load_arrays(images, ["b", "a", "b"])
    assert items.images is not None
    assert items.images.shape == (3, 2, 2, 1)
    np.testing.assert_allclose(items.images[:, 0, 0, 0], [1.0, 0.2, 1.0], atol=1e-6)
    assert items.classes == ("a", "b")
    assert items.labels.tolist() == [1, 0, 1]
    assert items.ids.tolist() == [0, 1, 2]


def test_load_arrays_int_labels_and_given_classes() -> None:
    images = np.zeros((4, 2, 2, 3), dtype=np.float32)
    renumbered = load_arrays(images, [10, 2, -1, 10])
    assert renumbered.classes == ("2", "10")
    assert renumbered.labels.tolist() == [1, 0, -1, 1]
    named = load_arrays(
        images, [1, 0, 1, 1], classes=["x", "y"], groups=["g"] * 4, ids=list("abcd")
    )
    assert named.classes == ("x", "y")
    assert named.labels.tolist() == [1, 0, 1, 1]
    assert named.ids.tolist() == ["a", "b", "c", "d"]
    assert named.groups is not None


@pytest.mark.parametrize(
    ("images", "labels", "kwargs", "message"),
    [
        (np.zeros((2, 3)), [0, 1], {}, r"images\.shape=\(2, 3\)"),
        (np.full((2, 2, 2), 2.0), [0, 1], {}, r"in \[0, 1\]\. Received: min=2\.0"),
        (np.zeros((2, 2, 2), np.int32), [0, 1], {}, r"images\.dtype=int32"),
        (np.zeros((2, 2, 2)), [0, 1, 1], {}, r"one label per item"),
        (np.zeros((2, 2, 2)), [0, 1], {"ids": ["a", "a"]}, r"unique ids.*\['a'\]"),
        (np.zeros((2, 2, 2)), [0, 5], {"classes": ["x", "y"]}, r"len\(classes\)=2"),
        (np.zeros((2, 2, 2)), ["x", "z"], {"classes": ["x", "y"]}, r"unknown, e\.g\. \['z'\]"),
    ],
    ids=["shape", "range", "dtype", "lengths", "duplicate-ids", "int-classes", "str-classes"],
)
def test_load_arrays_errors(images, labels, kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        load_arrays(images, labels, **kwargs)


def test_npz_flat_layout(tmp_path: Path) -> None:
    path = tmp_path / "flat.npz"
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    np.savez(path, images=images, labels=np.array(["b", "a"]), ids=np.array(["x", "y"]))
    items = load_npz(path)
    assert items.classes == ("a", "b")
    assert items.ids.tolist() == ["x", "y"]
    assert items.images is not None
    np.testing.assert_allclose(items.images[..., 0], images / 255.0, atol=1e-6)


def test_npz_class_major_layout_keeps_binary_values(tmp_path: Path) -> None:
    path = tmp_path / "omniglot_like.npz"
    images = np.ones((3, 2, 4, 4), dtype=np.uint8)
    images[:, :, 1, 1] = 0  # one ink pixel
    np.savez(
        path,
        images=images,
        alphabet=np.array(["Greek", "Greek", "Latin"]),
        character=np.array(["character01", "character02", "character01"]),
    )
    items = load_npz(path)
    assert items.classes == ("Greek/character01", "Greek/character02", "Latin/character01")
    assert items.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert items.ids.tolist()[:2] == ["Greek/character01/0", "Greek/character01/1"]
    assert items.groups is not None
    assert items.groups.tolist() == ["Greek"] * 4 + ["Latin"] * 2
    assert items.images is not None
    assert items.images.shape == (6, 4, 4, 1)
    assert set(np.unique(items.images).tolist()) == {0.0, 1.0}
    assert items.images[0, 1, 1, 0] == 0.0


def test_npz_class_major_with_classes_and_groups(tmp_path: Path) -> None:
    path = tmp_path / "major.npz"
    images = np.full((2, 3, 2, 2), 255, dtype=np.uint8)
    np.savez(path, images=images, classes=np.array(["p", "q"]), groups=np.array(["g1", "g2"]))
    items = load_npz(path)
    assert items.classes == ("p", "q")
    assert items.images is not None
    assert float(items.images.min()) == 1.0  # 255 is scaled, not taken as binary
    assert items.groups is not None
    assert items.groups.tolist() == ["g1"] * 3 + ["g2"] * 3


def test_npz_errors(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, images=np.zeros((2, 2, 2)), labels=np.array([{"a": 1}, {"b": 2}], object))
    with pytest.raises(DataError, match="without pickles"):
        load_npz(pickled)
    no_images = tmp_path / "no_images.npz"
    np.savez(no_images, x=np.zeros(3))
    with pytest.raises(DataError, match=r"Expected an 'images' array.*keys=\['x'\]"):
        load_npz(no_images)
    flat_no_labels = tmp_path / "flat_no_labels.npz"
    np.savez(flat_no_labels, images=np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match="class-major"):
        load_npz(flat_no_labels)
    with pytest.raises(DataError, match="missing"):
        load_npz(tmp_path / "nowhere.npz")


def test_real_omniglot_npz(shared_data: Path) -> None:
    items = load_npz(shared_data / "omniglot" / "omniglot_images_evaluation.npz")
    assert len(items) == 13180
    assert len(items.classes) == 659
    assert items.classes[0] == "Angelic/character01"
    assert items.groups is not None
    assert len(set(items.groups.tolist())) == 20
    assert items.images is not None
    assert items.images.shape[1:] == (105, 105, 1)
    assert float(items.images[:20].mean()) > 0.5  # white background = 1.0, as in the PNGs


@pytest.mark.parametrize(
    ("split", "n", "n_classes", "alphabets"),
    [("background", 3620, 181, 6), ("evaluation", 3140, 157, 5)],
    ids=["background", "evaluation"],
)
def test_bundled_omniglot_sample(split: str, n: int, n_classes: int, alphabets: int) -> None:
    items = load_npz(omniglot_sample(split))  # type: ignore[arg-type]
    assert len(items) == n
    assert len(items.classes) == n_classes
    assert np.bincount(items.labels).tolist() == [20] * n_classes
    assert items.groups is not None
    assert len(set(items.groups.tolist())) == alphabets
    assert items.images is not None
    assert items.images.shape[1:] == (28, 28, 1)
    assert float(np.median(items.images)) == 1.0  # mostly white background
    assert items.ids[0].startswith(items.classes[0] + "/")


def test_omniglot_sample_rejects_unknown_split() -> None:
    with pytest.raises(ConfigError, match=r"Received: split='train'"):
        omniglot_sample("train")  # type: ignore[arg-type]


# --- tables --------------------------------------------------------------------------------------


def test_csv_table_keeps_every_cell_as_written_and_default_fields(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        "id,name,price,code,postcode,label\n"
        "a1,sony tv,399.0,12,0832,tv\n"
        "a2,bose speaker,,x7,2000,audio\n"
        "a3,lg tv,1e3,,0800,tv\n"
    )
    items = load_table(path)
    assert list(items.fields) == ["name", "price", "code", "postcode"]
    assert items.ids.tolist() == ["a1", "a2", "a3"]
    assert items.classes == ("audio", "tv")
    assert items.labels.tolist() == [1, 0, 1]
    assert items.fields["price"].tolist() == ["399.0", "", "1e3"]  # parsed when a tower reads it
    assert items.fields["postcode"].tolist() == ["0832", "2000", "0800"]
    assert items.fields["code"].tolist() == ["12", "x7", ""]
    assert items.fields["name"].dtype.kind == "U"
    assert items.kind == "record"


def test_jsonl_table_without_id_or_label(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{"title": "a", "year": 1999}, {"title": "b", "year": None}, {"title": "c"}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    items = load_table(path, fields=["title", "year"])
    assert items.ids.tolist() == [0, 1, 2]  # row numbers, as ints like any plain-integer ids
    assert items.classes == ()
    assert items.labels.tolist() == [-1, -1, -1]
    assert items.fields["title"].tolist() == ["a", "b", "c"]
    assert items.fields["year"].tolist() == ["1999", "", ""]


def test_table_fields_read_from_mapped_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,title,cost\n1,sony tv,399\n")
    items = load_table(path, fields=["name", "cost"], mapping={"name": "title"})
    columns = {name: column.tolist() for name, column in items.fields.items()}
    assert columns == {"name": ["sony tv"], "cost": ["399"]}
    with pytest.raises(DataError, match=r"Expected columns \['name'\].*\(missing \['name'\]\)"):
        load_table(path, fields=["name"])


def test_jsonl_strings_may_hold_line_separators(tmp_path: Path) -> None:
    """JSON lines end at "\\n" only: U+0085, U+2028 and U+2029 are allowed raw inside strings
    (`str.splitlines` would cut the record there)."""
    path = tmp_path / "rows.jsonl"
    titles = ["Smith, J.\x85Oxford", "Le\u2028Monde", "a\u2029b"]
    rows = [json.dumps({"title": title}, ensure_ascii=False) for title in titles]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    items = load_table(path, fields=["title"])
    assert items.fields["title"].tolist() == titles


def test_table_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\nx,10\ny,2\nz,\nw,-1\n")
    items = load_table(path)
    assert items.classes == ("2", "10")
    assert items.labels.tolist() == [1, 0, -1, -1]


def test_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,name\n1,a\n2,b\n")
    with pytest.raises(
        DataError,
        match=r"Expected columns \['title', 'price'\] in '.*x\.csv'\. "
        r"Received: columns=\['id', 'name'\]",
    ):
        load_table(path, fields=["title", "price"])
    path.write_text("id,name\n1,a\n1,b\n")
    with pytest.raises(DataError, match=r"unique ids.*\[1\]"):
        load_table(path)
    path.write_text("")
    with pytest.raises(DataError, match="empty table"):
        load_table(path)
    path.write_text("id,name\n")
    with pytest.raises(DataError, match="empty table"):
        load_table(path)
    path.write_text("id,label\n1,a\n")
    with pytest.raises(DataError, match="content column"):
        load_table(path)


def test_load_items_dispatches_by_kind(tmp_path: Path, flat_tree: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("id,name\n1,a\n")
    npz = tmp_path / "a.npz"
    np.savez(npz, images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0, 1]))
    assert load_items(table).kind == "record"
    assert load_items(flat_tree).kind == "image"
    resized = load_items(npz, image_size=(4, 4))
    assert resized.images is not None
    assert resized.images.shape == (2, 4, 4, 1)
    with pytest.raises(DataError, match=r"Expected a folder, \.zip, \.npz"):
        load_items(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="fields=None"):
        load_items(npz, fields=["name"])


def test_data_package_does_not_import_tensorflow() -> None:
    code = "import sys, simsearch.data, simsearch.datasets; print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- pair files ----------------------------------------------------------------------------------


def test_load_pairs_matches_ids_as_strings(tmp_path: Path) -> None:
    left = load_arrays(np.zeros((3, 2, 2)), [-1, -1, -1], ids=[10, 20, 30])
    right = load_arrays(np.zeros((2, 2, 2)), [-1, -1], ids=["b", "a"])
    path = tmp_path / "train.csv"
    path.write_text("label,left_id,left_name,right_id,right_name\n1,30,x,a,y\n0,10,x,b,y\n")
    pairs = load_pairs(path, left, right)
    assert pairs.left.tolist() == [2, 0]
    assert pairs.right.tolist() == [1, 0]
    assert pairs.same.tolist() == [1, 0]
    assert pairs.same.dtype == np.int8


def test_load_pairs_within_one_catalogue(tmp_path: Path) -> None:
    items = load_arrays(np.zeros((3, 2, 2)), [-1, -1, -1], ids=["a", "b", "c"])
    path = tmp_path / "dups.csv"
    path.write_text("left_id,right_id,label\nc,a,1\nb,c,0\n")
    pairs = load_pairs(path, items)
    assert pairs.left.tolist() == [2, 1]
    assert pairs.right.tolist() == [0, 2]


def test_image_catalogue_ids_are_relative_paths_as_build_index_names_them(tmp_path: Path) -> None:
    root = tmp_path / "images"
    _png(root / "001001_000.png", 10)
    _png(root / "forged" / "021001_000.png", 200)  # a flat folder beside a sub-folder
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("001001_000.png", "forged/021001_000.png"):
            z.write(root / name, name)
    for path in (root, archive):
        images = load_image_catalog(path, image_size=(4, 4))
        assert images.ids.tolist() == load_image_folder(path, labelled=False).ids.tolist()
        assert images.ids.tolist() == ["001001_000.png", "forged/021001_000.png"]
        assert images.labels.tolist() == [-1, -1] and images.images.shape == (2, 4, 4, 1)
    npz = load_image_catalog(omniglot_sample("evaluation"))
    assert npz.ids.tolist() == load_npz(omniglot_sample("evaluation")).ids.tolist()
    assert (npz.labels == -1).all() and npz.classes == ()
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,label\nforged/021001_000.png,001001_000.png,0\n")
    assert load_pairs(pairs, load_image_catalog(root)).left.tolist() == [1]


def test_unknown_pair_ids_name_what_the_catalogue_holds(tmp_path: Path) -> None:
    items = load_arrays(np.zeros((4, 2, 2)), [-1] * 4, ids=["a/1.png", "a/2.png", "b/1.png", "b/2.png"])
    path = tmp_path / "pairs.csv"
    path.write_text("left_id,right_id,label\n1.png,a/2.png,1\n")
    with pytest.raises(DataError) as caught:
        load_pairs(path, items)
    assert str(caught.value) == (
        f"Expected every left_id in '{path}' among the left items' ids. Received: 1 unknown, e.g. "
        "['1.png']; the left items hold 4 ids, e.g. ['a/1.png', 'a/2.png', 'b/1.png']"
    )


def test_load_pairs_reads_a_graded_score_column(tmp_path: Path) -> None:
    items = load_arrays(np.zeros((3, 2, 2)), [-1, -1, -1], ids=["a", "b", "c"])
    path = tmp_path / "sts.csv"
    path.write_text("left_id,right_id,label,score\na,b,1,4.6\nb,c,0,0.8\n")
    assert load_pairs(path, items).score is None
    pairs = load_pairs(path, items, score_column="score")
    np.testing.assert_allclose(pairs.score, [4.6, 0.8], rtol=1e-6)
    with pytest.raises(DataError, match=r"Expected columns \['relatedness'\]"):
        load_pairs(path, items, score_column="relatedness")
    path.write_text("left_id,right_id,label,score\na,b,1,high\n")
    with pytest.raises(DataError, match=r"numbers in score.*\['high'\]"):
        load_pairs(path, items, score_column="score")


def test_load_pairs_errors(tmp_path: Path) -> None:
    left = load_arrays(np.zeros((2, 2, 2)), [-1, -1], ids=["a", "b"])
    path = tmp_path / "pairs.csv"
    path.write_text("left_id,right_id,label\na,zz,1\nyy,b,0\nxx,b,0\n")
    with pytest.raises(DataError, match=r"every left_id.*2 unknown, e\.g\. \['xx', 'yy'\]"):
        load_pairs(path, left)
    path.write_text("left_id,right_id,label\na,zz,1\n")
    with pytest.raises(DataError, match=r"every right_id.*1 unknown, e\.g\. \['zz'\]"):
        load_pairs(path, left)
    path.write_text("left_id,right_id,label\na,b,2\n")
    with pytest.raises(DataError, match=r"labels 0 or 1.*\['2'\]"):
        load_pairs(path, left)
    path.write_text("left,right,label\na,b,1\n")
    with pytest.raises(DataError, match=r"Expected columns \['left_id', 'right_id', 'label'\]"):
        load_pairs(path, left)


def test_real_deepmatcher_pairs(shared_data: Path) -> None:
    folder = shared_data / "product_matching" / "deepmatcher" / "Abt-Buy"
    table_a, table_b = load_table(folder / "tableA.csv"), load_table(folder / "tableB.csv")
    assert (len(table_a), len(table_b)) == (1081, 1092)
    assert table_a.fields["price"].dtype.kind == "U"
    pairs = load_pairs(folder / "train.csv", table_a, table_b)
    assert len(pairs) == 5743
    assert int(pairs.same.sum()) == 616


def test_table_ids_are_never_guessed_for_a_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("name,price\na,1\nb,2\n")
    with pytest.raises(DataError, match=r"Expected an id column 'sku'.*--row-ids"):
        load_table(path, id_column="sku", row_ids=False)
    assert load_table(path, row_ids=True).ids.tolist() == [0, 1]
    assert load_table(path).ids.tolist() == [0, 1]  # row_ids=None: data whose ids only name rows
    with_ids = tmp_path / "ids.csv"
    with_ids.write_text("id,name\n7,a\n")
    with pytest.raises(DataError, match="Expected no 'id' column"):
        load_table(with_ids, row_ids=True)


def test_a_csv_field_is_read_up_to_the_text_limit(tmp_path: Path) -> None:
    from simsearch.validation import MAX_TEXT_CHARS

    path = tmp_path / "long.csv"
    path.write_text("id,text\n1," + "x" * 200_000 + "\n")  # over the csv module's 128 KiB default
    assert len(load_table(path).fields["text"][0]) == 200_000
    path.write_text("id,text\n1," + "x" * (MAX_TEXT_CHARS + 1) + "\n")
    with pytest.raises(DataError, match=f"at most {MAX_TEXT_CHARS} characters"):
        load_table(path)


def test_json_lines_with_surrogates_or_deep_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1, "text": "\\ud800"}\n')
    with pytest.raises(DataError, match="lone surrogate"):
        load_table(path)
    path.write_text('{"id": 1, "text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(DataError, match="Expected JSON lines"):
        load_table(path)
