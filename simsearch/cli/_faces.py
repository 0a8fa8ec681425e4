"""The face options shared by `train --tower face`, `enrol`, `identify` and `evaluate`, and the
loading of photos for a face model (the photos left out by `--on-no-face skip` dropped)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from simsearch.data.items import Items
from simsearch.tower_kinds import tower_kind

_NO_FACE = ("error", "skip", "whole-image")
_MANY_FACES = ("error", "largest")


def face_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--on-no-face`, `--on-many-faces` and `--face-upsample` (None: the model's setting)."""
    for option in reversed(
        [
            click.option(
                "--on-no-face",
                type=click.Choice(_NO_FACE),
                help="A photo in which no face is found (also after padding it): stop with an error, "
                "skip it, or take the whole photo as the face (photos cropped to the face, like ORL). "
                "Default: the model's (train: error).",
            ),
            click.option(
                "--on-many-faces",
                type=click.Choice(_MANY_FACES),
                help="A photo with several faces: stop with an error or take the largest. Default: the "
                "model's (train: error).",
            ),
            click.option(
                "--face-upsample",
                type=click.IntRange(0, 3),
                help="Times the face detector doubles each photo first: finds smaller faces, ~4x slower "
                "each. Default: the model's (train: 0).",
            ),
        ]
    ):
        command = option(command)
    return command


def face_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The `FaceConfig` fields given on the command line."""
    names = {"on_no_face": "on_no_face", "on_many_faces": "on_many_faces", "face_upsample": "upsample"}
    return {field: options[key] for key, field in names.items() if options.get(key) is not None}


def apply_face_settings(model: Any, options: dict[str, Any]) -> None:
    """Override a face model's stored face-finding settings by the command line's, in memory."""
    if tower_kind(model.kind).finds_faces:
        model.config["inputs"]["face"] = {**model.config["inputs"].get("face", {}), **face_settings(options)}


def load_faces(path: Path, face: dict[str, Any], labelled: bool = True) -> Items:
    """Photos for a face model with face-finding settings `face` (`FaceConfig` fields), at their
    size (mixed sizes: the most common one, as `load_image_folder` does), without the photos that
    `on_no_face="skip"` leaves out."""
    from simsearch.cli._common import load_data
    from simsearch.data.faces import FaceConfig, face_mask

    items = load_data(path, fields=None, image_size=None, labelled=labelled)
    config = FaceConfig(**face)
    if config.on_no_face != "skip":
        return items
    keep = face_mask(items.images, config, [str(i) for i in items.ids])  # type: ignore[arg-type]
    return items if keep.all() else items.subset(keep)
