"""What `cdpflow pipeline` and `cdpflow destination` share: one file per name in the family's
folder, one DAG per file (cdpflow.declared)."""

from __future__ import annotations

from pathlib import Path

import click

from cdpflow.airflow.declared import sync_declared_dags
from cdpflow.declared import Family
from cdpflow.settings import Settings


def new_file(settings: Settings, family: Family, name: str, *, force: bool) -> Path:
    """Where NAME's file is to be written; refused when one is there, unless `force`."""
    path = family.path(settings, name)
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; edit it, or pass --force to replace it.")
    return path


def remove_file(settings: Settings, family: Family, name: str) -> Path:
    """Delete NAME's file and bring the DAGs in line; the path it had."""
    path = family.path(settings, name)
    if not path.exists():
        known = ", ".join(family.names(settings)) or "none"
        raise click.ClickException(f"No {family.noun} `{name}` ({family.noun}s: {known}).")
    path.unlink()
    sync_declared_dags(settings)
    return path
