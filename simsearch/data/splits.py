"""Split an identity dataset the way face and signature recipes need it.

A *sample* is one image with the identity it shows or claims (a person, the owner of a
signature) and its author (who produced it: the identity itself for a genuine sample, someone
else for a forgery). Identities are either the image's class folder, or read from the file name
by a regular expression with named groups `identity` and, optionally, `author` (SigComp's
`WWWOOO_NNN.png`: author `WWW`, identity `OOO`).

`split_identities` holds whole identities out of training (a share, a count, or one fold of a
leave-identities-out cross-validation), then optionally enrols some of the held-out identities
with a few genuine samples each (the gallery); every other held-out sample is a probe, so the
probes mix enrolled people with people never enrolled (open-set identification).
`reference_pairs` turns samples into questioned-vs-reference verification pairs. Only numpy and
the standard library; nothing here reads or writes files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from simsearch.errors import ConfigError, DataError

__all__ = [
    "PAIR_KINDS",
    "Sample",
    "SplitConfig",
    "class_folder",
    "read_samples",
    "reference_pairs",
    "split_identities",
]

PAIR_KINDS = ("genuine", "skilled", "random")


@dataclass(frozen=True)
class Sample:
    """One image: its path relative to the dataset root, the identity it shows or claims, and
    who made it (the identity itself unless it is a forgery)."""

    path: str
    identity: str
    author: str

    @property
    def genuine(self) -> bool:
        return self.author == self.identity


def read_samples(paths: Iterable[str], pattern: str | None = None) -> list[Sample]:
    """Read each relative image path as a sample.

    Args:
        paths: image paths relative to the dataset root (POSIX separators).
        pattern: None: the identity is the image's folder (`s1/3.pgm` -> `s1`), and every sample
            is genuine. Else a regular expression searched in the file name, with a named group
            `identity` and optionally `author` (e.g. `(?P<author>\\d{3})(?P<identity>\\d{3})_\\d{3}`).

    Raises:
        ConfigError: a pattern without an `identity` group, or not a valid expression.
        DataError: a path the pattern does not match, or an image outside any class folder.
    """
    regex = _compile(pattern) if pattern is not None else None
    samples = []
    for path in sorted(paths):
        rel = PurePosixPath(path)
        if regex is None:
            if len(rel.parts) < 2:
                raise DataError(
                    f"Expected images in identity folders (or --identity-pattern). Received: '{path}'"
                )
            identity = rel.parent.as_posix()
            samples.append(Sample(path, identity, identity))
            continue
        match = regex.search(rel.name)
        if match is None:
            raise DataError(f"Expected file names matching {pattern!r}. Received: '{path}'")
        identity = match.group("identity")
        author = match.groupdict().get("author") or identity
        samples.append(Sample(path, identity, author))
    if not samples:
        raise DataError("Expected at least one image. Received: none")
    return samples


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"Expected a regular expression. Received: {pattern!r} ({exc})") from exc
    if "identity" not in regex.groupindex:
        raise ConfigError(f"Expected a named group (?P<identity>...) in the pattern. Received: {pattern!r}")
    return regex


def class_folder(sample: Sample, forgeries: bool) -> str:
    """The class folder a sample is written to: its identity, or, in a dataset with forgeries,
    `identity/genuine` and `identity/forged_by_<author>` (so the class is the hand that wrote it,
    and the identity is the group)."""
    if not forgeries:
        return sample.identity
    return f"{sample.identity}/genuine" if sample.genuine else f"{sample.identity}/forged_by_{sample.author}"


@dataclass(frozen=True)
class SplitConfig:
    """How to split identities.

    Attributes:
        test: identities held out of training: a share (0 < test < 1) or a count (>= 1).
        folds: instead of `test`, leave-identities-out cross-validation with this many folds
            (identities dealt round-robin after a seeded shuffle); `fold` is the held-out one.
        val: identities of the training side set apart as `val` (share or count; 0 = none), for
            `simsearch train --val-data`: early stopping and the threshold on unseen identities.
        enrol: held-out identities enrolled in a gallery (share or count; 0 = no gallery).
        gallery_shots: genuine samples per enrolled identity in the gallery.
        seed: the shuffle of identities and of the gallery samples.
    """

    test: float = 0.5
    folds: int | None = None
    fold: int = 0
    val: float = 0.0
    enrol: float = 0.0
    gallery_shots: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folds is not None and not (self.folds >= 2 and 0 <= self.fold < self.folds):
            raise ConfigError(
                f"Expected folds >= 2 and 0 <= fold < folds. Received: folds={self.folds}, fold={self.fold}"
            )
        if self.test <= 0 or self.enrol < 0 or self.val < 0:
            raise ConfigError(
                f"Expected test > 0, val >= 0 and enrol >= 0. Received: test={self.test}, "
                f"val={self.val}, enrol={self.enrol}"
            )
        if self.gallery_shots < 1:
            raise ConfigError(f"Expected gallery_shots >= 1. Received: gallery_shots={self.gallery_shots}")


def _count(value: float, total: int, name: str) -> int:
    count = round(value * total) if value < 1 else int(value)
    if value >= 1 and value != int(value):
        raise ConfigError(f"Expected {name} as a share below 1 or a whole count. Received: {name}={value}")
    if count > total:
        raise ConfigError(f"Expected {name} <= {total} identities. Received: {name}={value}")
    return count


def split_identities(samples: Sequence[Sample], config: SplitConfig) -> dict[str, list[Sample]]:
    """Split samples by identity into `train` and `test` (and `val`, with `config.val`), and,
    with `config.enrol`, the test samples further into `gallery` and `probes`.

    Returns:
        part name -> samples, in input order within each part.

    Raises:
        ConfigError: a split that leaves fewer than 2 training identities, no test identity, or
            an enrolled identity without `gallery_shots` genuine samples plus one probe.
    """
    identities = sorted({s.identity for s in samples})
    rng = np.random.default_rng(config.seed)
    shuffled = [identities[i] for i in rng.permutation(len(identities))]
    if config.folds is not None:
        test = shuffled[config.fold :: config.folds]
    else:
        test = shuffled[: _count(config.test, len(identities), "test")]
    if not test or len(identities) - len(test) < 2:
        raise ConfigError(
            f"Expected at least 1 test and 2 training identities. Received: {len(test)} test of "
            f"{len(identities)}"
        )
    held = set(test)
    rest = [i for i in shuffled if i not in held]
    val = set(rest[: _count(config.val, len(rest), "val")]) if config.val else set()
    if len(rest) - len(val) < 2:
        raise ConfigError(
            f"Expected at least 2 training identities besides val. Received: {len(rest)} - {len(val)}"
        )
    parts = {
        "train": [s for s in samples if s.identity not in held | val],
        "test": [s for s in samples if s.identity in held],
    }
    if val:
        parts["val"] = [s for s in samples if s.identity in val]
    if config.enrol:
        enrolled = test[: _count(config.enrol, len(test), "enrol")]
        gallery = _gallery(parts["test"], enrolled, config.gallery_shots, rng)
        parts["gallery"] = [s for s in parts["test"] if s in gallery]
        parts["probes"] = [s for s in parts["test"] if s not in gallery]
    return parts


def _gallery(
    samples: Sequence[Sample], enrolled: Sequence[str], shots: int, rng: np.random.Generator
) -> set[Sample]:
    chosen: set[Sample] = set()
    for identity in sorted(enrolled):
        genuine = [s for s in samples if s.identity == identity and s.genuine]
        if len(genuine) <= shots:
            raise ConfigError(
                f"Expected more than gallery_shots={shots} genuine samples of enrolled identity "
                f"{identity!r} (the rest are its probes). Received: {len(genuine)}"
            )
        chosen.update(genuine[i] for i in rng.permutation(len(genuine))[:shots])
    return chosen


def reference_pairs(
    samples: Sequence[Sample], kinds: Sequence[str] = ("genuine", "skilled"), seed: int = 0
) -> list[tuple[Sample, Sample, int, str]]:
    """Questioned-vs-reference verification pairs: `(reference, questioned, label, kind)`.

    The reference is always a genuine sample of the claimed identity. Kinds: `"genuine"`, each
    unordered pair of two genuine samples of one identity (label 1); `"skilled"`, each genuine
    sample against each forgery of its identity (label 0); `"random"`, for each genuine pair,
    its reference against a random genuine sample of another identity (label 0, a "random
    forgery").

    Raises:
        ConfigError: an unknown kind.
        DataError: no pair of a requested kind can be formed.
    """
    unknown = sorted(set(kinds) - set(PAIR_KINDS))
    if unknown:
        raise ConfigError(f"Expected pair kinds among {list(PAIR_KINDS)}. Received: {unknown}")
    rng = np.random.default_rng(seed)
    pairs: list[tuple[Sample, Sample, int, str]] = []
    by_identity: dict[str, list[Sample]] = {}
    for sample in samples:
        by_identity.setdefault(sample.identity, []).append(sample)
    for identity, mine in sorted(by_identity.items()):
        genuine = [s for s in mine if s.genuine]
        forged = [s for s in mine if not s.genuine]
        positives = list(itertools.combinations(genuine, 2))
        if "genuine" in kinds:
            pairs += [(a, b, 1, "genuine") for a, b in positives]
        if "skilled" in kinds:
            pairs += [(a, f, 0, "skilled") for a in genuine for f in forged]
        others = [s for s in samples if s.genuine and s.identity != identity]
        if "random" in kinds and others:
            pairs += [(a, others[int(rng.integers(len(others)))], 0, "random") for a, _ in positives]
    for kind in kinds:
        if not any(p[3] == kind for p in pairs):
            raise DataError(
                f"Expected some {kind!r} pairs. Received: none among {len(samples)} samples "
                "(skilled pairs need forgeries: an --identity-pattern with an author group)"
            )
    return pairs
