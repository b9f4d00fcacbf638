"""A destination's standing for `cdpflow destination list`: its last run and its members."""

from __future__ import annotations

from dataclasses import dataclass

from cdpflow.activation.live_state import LiveState
from cdpflow.activation.records import RUNS_TABLE, ActivationTables
from cdpflow.lake.storage import Lake
from cdpflow.settings import Settings


@dataclass(frozen=True)
class DestinationStatus:
    last_sync: str  # "<finished> <status>", or "never"
    acknowledged: int


def destination_status(settings: Settings, name: str) -> DestinationStatus:
    tables = ActivationTables(Lake(settings.lake_url), name)
    runs = tables.read(RUNS_TABLE).to_pylist()
    last = max(runs, key=lambda r: r["finished_at"]) if runs else None
    shown = f"{last['finished_at']:%Y-%m-%d %H:%M} {last['status']}" if last else "never"
    return DestinationStatus(shown, LiveState.read(tables).acknowledged)
