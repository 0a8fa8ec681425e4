"""Identity splits, open-set enrolment and questioned-vs-reference pairs on hand-built samples."""

from __future__ import annotations

from math import comb

import pytest

from simsearch.data.splits import (
    SplitConfig,
    class_folder,
    read_samples,
    reference_pairs,
    split_identities,
)
from simsearch.errors import ConfigError, DataError

SIGCOMP = r"(?P<author>\d{3})(?P<identity>\d{3})_\d{3}"
# SYNTHETIC file names in SigComp2009's layout: 4 identities x 5 genuine + 3 forgeries by 021.
SIGNATURES = [f"{i:03d}{i:03d}_{r:03d}.png" for i in range(1, 5) for r in range(5)] + [
    f"forged/021{i:03d}_{r:03d}.png" for i in range(1, 5) for r in range(3)
]
FACES = [f"s{i}/{r}.pgm" for i in range(1, 11) for r in range(1, 11)]


def test_identities_from_folders() -> None:
    samples = read_samples(["b/2.png", "a/1.png", "x/y/3.png"])
    assert [(s.path, s.identity, s.genuine) for s in samples] == [
        ("a/1.png", "a", True),
        ("b/2.png", "b", True),
        ("x/y/3.png", "x/y", True),
    ]


def test_identities_and_authors_from_names() -> None:
    samples = read_samples(SIGNATURES, SIGCOMP)
    forged = [s for s in samples if not s.genuine]
    assert len(forged) == 12 and {s.author for s in forged} == {"021"}
    assert {s.identity for s in samples} == {"001", "002", "003", "004"}
    assert class_folder(forged[0], forgeries=True) == f"{forged[0].identity}/forged_by_021"
    assert class_folder(samples[0], forgeries=True) == "001/genuine"
    assert class_folder(samples[0], forgeries=False) == "001"


@pytest.mark.parametrize(
    ("paths", "pattern", "error", "match"),
    [
        (["loose.png"], None, DataError, "identity folders"),
        (["abc.png"], SIGCOMP, DataError, "matching"),
        (["a/1.png"], r"(?P<who>\d+)", ConfigError, "identity"),
        (["a/1.png"], r"(", ConfigError, "regular expression"),
    ],
    ids=["no-folder", "no-match", "no-identity-group", "bad-regex"],
)
def test_read_errors(paths: list[str], pattern: str | None, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        read_samples(paths, pattern)


def test_split_by_count_is_identity_disjoint_and_complete() -> None:
    samples = read_samples(FACES)
    parts = split_identities(samples, SplitConfig(test=4, enrol=2, gallery_shots=1, seed=3))
    ids = {name: {s.identity for s in part} for name, part in parts.items()}
    assert len(ids["test"]) == 4 and len(ids["train"]) == 6 and not ids["train"] & ids["test"]
    assert sorted(parts["train"] + parts["test"], key=lambda s: s.path) == samples
    assert len(parts["gallery"]) == 2 and len(ids["gallery"]) == 2 and ids["gallery"] <= ids["test"]
    assert set(parts["gallery"]) | set(parts["probes"]) == set(parts["test"])
    assert not set(parts["gallery"]) & set(parts["probes"])
    assert len(parts["probes"]) == 40 - 2


def test_split_by_share_and_seed() -> None:
    samples = read_samples(FACES)
    a = split_identities(samples, SplitConfig(test=0.3, seed=0))
    b = split_identities(samples, SplitConfig(test=0.3, seed=0))
    c = split_identities(samples, SplitConfig(test=0.3, seed=1))
    assert a == b and len({s.identity for s in a["test"]}) == 3
    assert {s.identity for s in a["test"]} != {s.identity for s in c["test"]}


def test_folds_hold_each_identity_out_once() -> None:
    samples = read_samples(SIGNATURES, SIGCOMP)
    held = [
        {s.identity for s in split_identities(samples, SplitConfig(folds=2, fold=f, seed=5))["test"]}
        for f in range(2)
    ]
    assert held[0].isdisjoint(held[1]) and held[0] | held[1] == {"001", "002", "003", "004"}
    test = split_identities(samples, SplitConfig(folds=2, fold=0, seed=5))["test"]
    assert len(test) == 2 * 8  # the identities' forgeries come with them


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (SplitConfig(test=9), "2 training identities"),
        (SplitConfig(test=11), "<= 10"),
        (SplitConfig(test=2, enrol=1, gallery_shots=10), "more than gallery_shots"),
    ],
    ids=["too-few-train", "too-many-test", "no-probe-left"],
)
def test_split_errors(config: SplitConfig, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        split_identities(read_samples(FACES), config)


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="folds"):
        SplitConfig(folds=3, fold=3)
    with pytest.raises(ConfigError, match="gallery_shots"):
        SplitConfig(gallery_shots=0)


def test_reference_pairs_match_the_counting_formula() -> None:
    samples = read_samples(SIGNATURES, SIGCOMP)
    pairs = reference_pairs(samples, ("genuine", "skilled", "random"), seed=0)
    by_kind = {k: [p for p in pairs if p[3] == k] for k in ("genuine", "skilled", "random")}
    assert len(by_kind["genuine"]) == 4 * comb(5, 2)
    assert len(by_kind["skilled"]) == 4 * 5 * 3
    assert len(by_kind["random"]) == len(by_kind["genuine"])
    for reference, questioned, label, kind in pairs:
        assert reference.genuine  # the reference is always a genuine sample of the claim
        if kind == "genuine":
            assert label == 1 and questioned.genuine and questioned.identity == reference.identity
        elif kind == "skilled":
            assert label == 0 and not questioned.genuine and questioned.identity == reference.identity
        else:
            assert label == 0 and questioned.genuine and questioned.identity != reference.identity
    genuine_pairs = {frozenset((a.path, b.path)) for a, b, _, _ in by_kind["genuine"]}
    assert len(genuine_pairs) == len(by_kind["genuine"])  # unordered, each once


def test_skilled_pairs_need_forgeries() -> None:
    with pytest.raises(DataError, match="skilled"):
        reference_pairs(read_samples(FACES), ("skilled",))
    with pytest.raises(ConfigError, match="pair kinds"):
        reference_pairs(read_samples(FACES), ("impostor",))



def test_val_identities_come_from_the_training_side() -> None:
    samples = read_samples(FACES)
    parts = split_identities(samples, SplitConfig(test=3, val=2, seed=1))
    ids = {name: {s.identity for s in part} for name, part in parts.items()}
    assert [len(ids[p]) for p in ("train", "val", "test")] == [5, 2, 3]
    assert not (ids["val"] & ids["test"]) and not (ids["val"] & ids["train"])
    plain = split_identities(samples, SplitConfig(test=3, seed=1))
    assert {s.identity for s in plain["test"]} == ids["test"]  # val does not change the test side
    with pytest.raises(ConfigError, match="besides val"):
        split_identities(samples, SplitConfig(test=3, val=6))
