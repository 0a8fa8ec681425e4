"""`simsearch split`: hold identities out of training, enrol some in a gallery, write pairs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import click

from simsearch.cli._common import split_list
from simsearch.errors import ConfigError, DataError


@click.command("split")
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Image folder: one sub-folder per identity, or any layout with --identity-pattern.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="New folder to write."
)
@click.option(
    "--identity-pattern",
    help="Regular expression searched in each file name, with a named group (?P<identity>...) "
    "and optionally (?P<author>...): an image whose author is not its identity is a forgery. "
    r"SigComp2009: '(?P<author>\d{3})(?P<identity>\d{3})_\d{3}'.",
)
@click.option(
    "--test",
    type=float,
    default=0.5,
    show_default=True,
    help="Identities held out of training: a share (below 1) or a count.",
)
@click.option("--folds", type=int, help="Leave-identities-out cross-validation with this many folds.")
@click.option("--fold", type=int, default=0, show_default=True, help="The held-out fold (0-based).")
@click.option(
    "--val",
    type=float,
    default=0.0,
    show_default=True,
    help="Training-side identities set apart in OUT/val (share or count), for train --val-data.",
)
@click.option(
    "--enrol",
    type=float,
    default=0.0,
    show_default=True,
    help="Held-out identities enrolled in OUT/gallery (share or count); the rest of the held-out "
    "images go to OUT/probes.",
)
@click.option("--gallery-shots", type=int, default=1, show_default=True, help="Images per enrolled identity.")
@click.option(
    "--pairs",
    help="Write OUT/pairs.csv of questioned-vs-reference pairs over OUT/test, of these kinds "
    "(comma-separated): genuine (two genuine images of one identity, label 1), skilled (a "
    "genuine image and a forgery of it, 0), random (a genuine image and another identity's, 0).",
)
@click.option("--seed", type=int, default=0, show_default=True)
def split_command(data: Path, out: Path, **options: Any) -> None:
    """Split an identity image folder into OUT/train and OUT/test (identities never seen in
    training), optionally OUT/gallery + OUT/probes (open-set enrolment) and OUT/pairs.csv.

    \b
    Faces, 20 identities held out, 10 of them enrolled with one photo:
        simsearch split --data att_orl_faces --out split --test 20 --enrol 10 --seed 0
    Signatures, fold 0 of 4, genuine vs skilled-forgery pairs:
        simsearch split --data sigs --out fold0 --folds 4 --fold 0 --pairs genuine,skilled \\
            --identity-pattern '(?P<author>\\d{3})(?P<identity>\\d{3})_\\d{3}'
    """
    from simsearch.data.splits import SplitConfig, class_folder, read_samples, split_identities

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"Expected a new or empty --out folder. Received: '{out}' (not empty)")
    config = SplitConfig(
        test=options["test"],
        folds=options["folds"],
        fold=options["fold"],
        val=options["val"],
        enrol=options["enrol"],
        gallery_shots=options["gallery_shots"],
        seed=options["seed"],
    )
    kinds = split_list(options["pairs"]) or []
    samples = read_samples(_image_paths(data), options["identity_pattern"])
    forgeries = any(not s.genuine for s in samples)
    parts = split_identities(samples, config)
    summary: dict[str, Any] = {"data": str(data), "settings": {**vars(config), "pairs": kinds}, "parts": {}}
    for name, members in parts.items():
        written = [_copy(data, out / name, s.path, class_folder(s, forgeries)) for s in members]
        _check_unique(written, name)
        summary["parts"][name] = {
            "identities": sorted({s.identity for s in members}),
            "images": len(members),
            "forgeries": sum(not s.genuine for s in members),
        }
    if kinds:
        summary["pairs"] = _write_pairs(out / "pairs.csv", parts["test"], kinds, forgeries, config.seed)
    (out / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, part in summary["parts"].items():
        click.echo(f"{name}: {len(part['identities'])} identities, {part['images']} images -> {out / name}")
    if kinds:
        click.echo(f"pairs: {summary['pairs']} -> {out / 'pairs.csv'}")


def _image_paths(root: Path) -> list[str]:
    from simsearch.data.image_folder import IMAGE_SUFFIXES

    paths = []
    for file in root.rglob("*"):
        rel = PurePosixPath(file.relative_to(root).as_posix())
        if file.is_file() and rel.suffix.lower() in IMAGE_SUFFIXES and not _hidden(rel):
            paths.append(rel.as_posix())
    if not paths:
        raise DataError(f"Expected images ({', '.join(IMAGE_SUFFIXES)}). Received: none in '{root}'")
    return sorted(paths)


def _hidden(rel: PurePosixPath) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _copy(root: Path, part: Path, path: str, folder: str) -> str:
    rel = f"{folder}/{PurePosixPath(path).name}"
    target = part / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / path, target)
    return rel


def _check_unique(written: list[str], part: str) -> None:
    seen: set[str] = set()
    for rel in written:
        if rel in seen:
            raise DataError(
                f"Expected distinct file names within an identity. Received: two images would be "
                f"written to {part}/{rel}"
            )
        seen.add(rel)


def _write_pairs(
    path: Path, samples: list[Any], kinds: list[str], forgeries: bool, seed: int
) -> dict[str, int]:
    from simsearch.data.splits import class_folder, reference_pairs

    pairs = reference_pairs(samples, kinds, seed=seed)

    def rel(sample: Any) -> str:
        return f"{class_folder(sample, forgeries)}/{PurePosixPath(sample.path).name}"

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["left_id", "right_id", "label", "kind"])
        writer.writerows([rel(a), rel(b), label, kind] for a, b, label, kind in pairs)
    return {kind: sum(p[3] == kind for p in pairs) for kind in kinds}
