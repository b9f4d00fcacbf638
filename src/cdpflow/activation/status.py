"""A destination's standing for `cdpflow destination list`: its last run and its members."""

from __future__ import annotations

from dataclasses import dataclass

from cdpflow.activation.records import RUNS_TABLE, ActivationTables
from cdpflow.activation.sync import current_members
from cdpflow.lake.storage import Lake
from cdpflow.settings import Settings


@dataclass(frozen=True)
class DestinationStatus:
    last_sync: str  # "<finished> <status>", or "never"
    acknowledged: int


def destination_status(settings: Settings, name: str) -> DestinationStatus:
    tables = ActivationTables(Lake(settings.lake_url), settings.work_dir / "activation", name)
    runs = tables.read(RUNS_TABLE).to_pylist()
    last = max(runs, key=lambda r: r["finished_at"]) if runs else None
    shown = f"{last['finished_at']:%Y-%m-%d %H:%M} {last['status']}" if last else "never"
    members = current_members(tables)
    return DestinationStatus(shown, sum(1 for m in members.values() if m.status == "member"))
