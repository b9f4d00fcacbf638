"""A pipeline's standing for `cdpflow pipeline list`, read from its tables' current snapshots
(each carries the resource's committed state; cdpflow.elt.land), so it needs no run log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdpflow.elt.config import Pipeline
from cdpflow.elt.land import resource_state
from cdpflow.lake.tables import TableStore


@dataclass(frozen=True)
class PipelineStatus:
    last_run: str  # the newest commit of its tables, "never" before the first
    rows: int  # rows in its tables now
    state: str  # where each resource's incremental read stands


def pipeline_status(tables: TableStore, pipeline: Pipeline) -> PipelineStatus:
    snapshots = {r.name: tables.current(pipeline.table(r)) for r in pipeline.resources}
    committed = [s.committed_at for s in snapshots.values() if s is not None]
    last = f"{datetime.fromisoformat(max(committed)):%Y-%m-%d %H:%M}" if committed else "never"
    rows = sum(s.rows for s in snapshots.values() if s is not None)
    states = {
        name: describe_state(resource_state(s)) if s is not None else "not synced"
        for name, s in snapshots.items()
    }
    if len(states) == 1:
        state = next(iter(states.values()))
    else:
        state = "; ".join(f"{name}: {text}" for name, text in states.items())
    return PipelineStatus(last, rows, state)


def describe_state(state: Mapping[str, Any]) -> str:
    """One short phrase for a resource's state: the cursor reached, the files read, or the
    type's own keys."""
    if not state:
        return "full reads (no cursor)"
    if "cursor" in state and "last" in state:
        return f"{state['cursor']} >= {state['last']}"
    if set(state) == {"files"}:
        count = len(state["files"])
        return f"{count} file{'' if count == 1 else 's'} read"
    parts = []
    for key, value in state.items():
        if isinstance(value, Mapping | list | tuple):
            parts.append(f"{key}: {len(value)}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)
