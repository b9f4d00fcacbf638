"""Helpers for activation tests: segment_members written to the lake with entity_creation's
schema, the way entity_creation commits it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.entities import tables as entity_tables
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.settings import Settings

SEGMENT_MEMBERS = entity_tables.SCHEMAS[entity_tables.SEGMENT_MEMBERS]


def person(n: int, segment: str = "lapsed", **overrides: Any) -> dict[str, Any]:
    row = {
        "segment": segment,
        "global_user_id": f"u{n:05d}",
        "entered_at": datetime(2026, 11, 1, tzinfo=UTC),
        "emails": [f"Person{n}@Example.com"],
        "phones": [],
        "first_name": f"First{n}",
        "last_name": "Doe",
        "country": "US",
        "consent": True,
    }
    row.update(overrides)
    return row


def write_segment_members(settings: Settings, rows: list[dict[str, Any]] | pa.Table) -> None:
    """Replace segment_members with `rows` (dicts, or a table of SEGMENT_MEMBERS: the benchmark's
    million people) in one commit."""
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    local = settings.work_dir / f"segment_members-{uuid.uuid4().hex}.parquet"
    local.parent.mkdir(parents=True, exist_ok=True)
    table = (
        rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=SEGMENT_MEMBERS)
    )
    pq.write_table(table, local)
    rel = f"part-{uuid.uuid4().hex}.parquet"
    size = local.stat().st_size
    lake.put(local, f"segment_members/{rel}")
    base = tables.current("segment_members")
    tables.commit(
        "segment_members",
        base,
        operation="entity_creation",
        add=[DataFile(rel, len(table), size, owner="entity_creation")],
        remove=lambda f: True,
        columns=entity_tables.COLUMNS[entity_tables.SEGMENT_MEMBERS],
    )
