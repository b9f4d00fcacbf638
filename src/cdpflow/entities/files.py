"""Where entity files live, and writing them so a reader never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cdpflow.entities.spec import ENTITY_SUFFIXES
from cdpflow.settings import Settings

FOLDER = "entities"


def entity_folder(settings: Settings) -> Path:
    return settings.home / FOLDER


def existing_file(settings: Settings, name: str) -> Path | None:
    """The file of entity `name` (.yml or .yaml), if there is one."""
    for suffix in ENTITY_SUFFIXES:
        path = entity_folder(settings) / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def write_atomically(target: Path, text: str) -> None:
    """Write `text` to `target` through a temporary file in the same folder, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
