"""The DAG of a destination file, read (and checked) at parse time."""

from __future__ import annotations

from cdpflow.activation.destination import load_destination
from cdpflow.activation.records import LOG_TABLE, RUNS_TABLE
from cdpflow.activation.sync import SEGMENT_MEMBERS
from cdpflow.dag_spec import DagSpec, Updates
from cdpflow.settings import Settings


def dag_spec(settings: Settings, name: str) -> DagSpec:
    """After every update of segment_members, or on the file's own `schedule`. A broken file
    raises DeclarationError naming the file and the key: that DAG file's import error."""
    destination = load_destination(settings, name)
    schedule = destination.schedule
    return DagSpec(
        f"Sync segment `{destination.segment}` to {destination.type} destination `{name}`.",
        Updates((SEGMENT_MEMBERS,)) if schedule is None else (lambda s: schedule),
        (RUNS_TABLE, LOG_TABLE),
    )
