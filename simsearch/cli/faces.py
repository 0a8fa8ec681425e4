"""`simsearch enrol` and `simsearch identify`: the organisation scenario. Enrol people with one
or more photos each into an index; identify a new photo as an enrolled person or "unknown", at
a threshold chosen for a false-accept rate on held-out people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from simsearch.cli._faces import apply_face_settings, face_options
from simsearch.cli._index_dir import INDEX, wait_option, writing
from simsearch.errors import ConfigError
from simsearch.tower_kinds import tower_kind

_PATH = click.Path(exists=True, path_type=Path)
_DEFAULT_MAX_FAR = 0.001


@click.command("enrol")
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Index directory: created with --model when missing, else added to.",
)
@click.option("--model", "model_dir", type=_PATH, help="Model directory (for a new index).")
@click.option(
    "--people",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder with one sub-folder of photos per person (the sub-folder's name is the person's).",
)
@click.option("--person", help="The person the PHOTOS are of.")
@click.option(
    "--max-far",
    type=float,
    help="Choose the identification threshold for this share of strangers accepted as someone "
    "(per identification: each comparison with the index's N photos may false-accept about "
    "1/N of it, on the model's held-out impostor pairs), and store it in the index (default "
    f"{_DEFAULT_MAX_FAR} for a new index when the model has that curve; `identify` uses it, "
    "stricter as the index grows).",
)
@face_options
@wait_option
@click.argument("photos", nargs=-1, type=_PATH)
def enrol(
    index_dir: Path, model_dir: Path | None, photos: tuple[Path, ...], wait: bool, **options: Any
) -> None:
    """Enrol people in an index: a folder of people (--people), or PHOTOS of one --person.

    One process writes an index at a time: this waits while another one does, or fails at once
    with --no-wait.

    \b
    simsearch enrol --model models/faces --index indexes/staff --people staff_photos/
    simsearch enrol --index indexes/staff --person "Ann Lee" ann1.jpg ann2.jpg
    """
    if bool(options["people"]) == bool(options["person"]) or bool(options["person"]) != bool(photos):
        raise ConfigError(
            "Expected --people FOLDER, or --person NAME with photos. Received: "
            f"people={options['people']}, person={options['person']!r}, {len(photos)} photo(s)"
        )
    with writing(index_dir, wait=wait):
        _enrol(index_dir, model_dir, photos, options)


def _enrol(
    index_dir: Path, model_dir: Path | None, photos: tuple[Path, ...], options: dict[str, Any]
) -> None:
    from simsearch.engine import SearchEngine

    new = not (index_dir / "manifest.json").exists()
    if new and model_dir is None:
        raise ConfigError(
            f"Expected --model for a new index. Received: no index at '{index_dir}' and no --model"
        )
    engine = None if new else SearchEngine.load(index_dir, model_dir=model_dir)
    model = engine.model if engine is not None else _load_model(model_dir)  # type: ignore[arg-type]
    apply_face_settings(model, options)
    ids, descriptors, metadata = _photos(model, options["people"], options["person"], photos)
    if engine is None:
        from simsearch.index import FaissIndex, IndexConfig

        index = FaissIndex(IndexConfig(metric=model.metric)).build(model.encode(descriptors), ids, metadata)
        engine = SearchEngine(index, model, model_dir=model_dir)
    else:
        engine.add(descriptors, ids, metadata)
    max_far = options["max_far"]
    if max_far is None and new and model.calibration.get("far"):
        max_far = _DEFAULT_MAX_FAR
    if max_far is not None:
        threshold = engine.set_false_accept_rate(max_far)
        click.echo(
            f"Identification threshold: distance <= {threshold:.4f} (strangers accepted at most "
            f"{max_far:g} per identification against {len(engine.index)} photos)"
        )
    engine.save(index_dir)
    people = len({m["label"] for m in metadata})
    click.echo(f"Enrolled {len(ids)} photos of {people} people; {len(engine.index)} photos in {index_dir}")


@click.command("identify")
@click.option("--index", "index_dir", type=INDEX, required=True, help="Index directory from `enrol`.")
@click.option(
    "--threshold", type=float, help="Distance threshold (default: the index's, from enrol --max-far)."
)
@click.option(
    "--max-far",
    type=float,
    help="Threshold for this share of strangers accepted per identification (against every "
    "enrolled photo), from the model's held-out impostor pairs.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo.")
@face_options
@click.argument("photos", nargs=-1, required=True, type=_PATH)
def identify(index_dir: Path, photos: tuple[Path, ...], **options: Any) -> None:
    """Identify each photo as an enrolled person, or "unknown".

    \b
    simsearch identify --index indexes/staff door.jpg
    simsearch identify --index indexes/staff --max-far 0.0001 --json door1.jpg door2.jpg
    """
    from simsearch.engine import SearchEngine

    engine = SearchEngine.load(index_dir)
    apply_face_settings(engine.model, options)
    kept, descriptors = _descriptors(engine.model, [str(p) for p in photos], list(map(str, photos)))
    limits = {"threshold": options["threshold"], "max_far": options["max_far"]}
    answers = engine.identify(vectors=engine.model.encode(descriptors), **limits) if kept else []
    by_photo = dict(zip(kept, answers, strict=True))
    for photo in map(str, photos):
        answer = by_photo.get(photo)
        if options["as_json"]:
            click.echo(json.dumps({"photo": photo, **(answer.to_dict() if answer else {"identity": None})}))
        elif answer is None:
            click.echo(f"{photo}: no face (skipped)")
        else:
            verdict = "accepted" if answer.accepted else f"nearest {answer.nearest_identity}, rejected"
            numbers = f"distance {answer.distance:.4f}, threshold {answer.threshold:.4f}"
            click.echo(f"{photo}: {answer.identity} ({numbers}; {verdict})")


def _load_model(model_dir: Path) -> Any:
    from simsearch.models.siamese import SiameseModel

    return SiameseModel.load(model_dir)


def _photos(
    model: Any, people: Path | None, person: str | None, photos: tuple[Path, ...]
) -> tuple[list[str], Any, list[dict[str, Any]]]:
    """Ids (`person/file`), face descriptors and metadata (`{"label": person}`) of the photos
    to enrol; photos that `--on-no-face skip` leaves out are dropped."""
    if people is not None:
        from simsearch.data.image_folder import IMAGE_SUFFIXES

        files = sorted(
            f for f in people.glob("*/*") if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
        )
        if not files:
            raise ConfigError(
                f"Expected photos in sub-folders (one per person) of '{people}'. Received: none"
            )
        ids = [f"{f.parent.name}/{f.name}" for f in files]
    else:
        files = list(photos)
        ids = [f"{person}/{f.name}" for f in files]
    kept, descriptors = _descriptors(model, [str(f) for f in files], ids)
    return kept, descriptors, [{"label": i.split("/", 1)[0]} for i in kept]


def _descriptors(model: Any, paths: list[str], names: list[str]) -> tuple[list[str], Any]:
    """The names of the photos a face is found in, and their `(n, 128)` descriptors."""
    if not tower_kind(model.kind).finds_faces:
        raise ConfigError(f"Expected a face model (train --tower face). Received: a {model.kind} model")
    from simsearch.data.faces import FaceConfig, face_descriptors, face_mask

    config = FaceConfig(**model.config["inputs"].get("face", {}))
    keep = face_mask(paths, config, names) if config.on_no_face == "skip" else [True] * len(paths)
    chosen = [i for i, k in enumerate(keep) if k]
    descriptors = face_descriptors([paths[i] for i in chosen], config, [names[i] for i in chosen])
    return [names[i] for i in chosen], descriptors
