"""Helpers for entity tests: hand-built customer_360 and unique_events committed to the lake the
way the marts' jobs commit them, entity files, and the versions of entity_creation's tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.settings import Settings

TS = pa.timestamp("us", tz="UTC")
PEOPLE = pa.schema(
    [
        ("global_user_id", pa.string()),
        ("emails", pa.list_(pa.string())),
        ("phones", pa.list_(pa.string())),
        ("revenue", pa.float64()),
        ("orders", pa.int64()),
    ]
)
PEOPLE_COLUMNS = (
    ("global_user_id", "VARCHAR"), ("emails", "VARCHAR[]"), ("phones", "VARCHAR[]"),
    ("revenue", "DOUBLE"), ("orders", "BIGINT"),
)  # fmt: skip
EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("global_user_id", pa.string()),
        ("event_type", pa.string()),
        ("event_name", pa.string()),
        ("event_time", TS),
        ("event_date", pa.date32()),
        ("properties", pa.string()),
    ]
)
EVENT_COLUMNS = (
    ("event_id", "VARCHAR"), ("global_user_id", "VARCHAR"), ("event_type", "VARCHAR"),
    ("event_name", "VARCHAR"), ("event_time", "TIMESTAMP WITH TIME ZONE"),
    ("event_date", "DATE"), ("properties", "VARCHAR"),
)  # fmt: skip
DAY1 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DAY3 = DAY1 + timedelta(days=2)


def put_table(settings: Settings, name: str, rows: list[dict[str, Any]], schema: pa.Schema,
              columns: tuple[tuple[str, str], ...]) -> None:  # fmt: skip
    lake = Lake(settings.lake_url)
    local = settings.work_dir / f"{name}-{uuid.uuid4().hex}.parquet"
    local.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), local)
    rel = f"part-{uuid.uuid4().hex}.parquet"
    size = local.stat().st_size
    lake.put(local, f"{name}/{rel}")
    tables = TableStore(lake)
    tables.commit(
        name,
        tables.current(name),
        operation="test",
        add=[DataFile(rel, len(rows), size)],
        remove=lambda f: True,
        columns=columns,
    )


def people(settings: Settings, revenue: dict[str, float]) -> None:
    rows = [
        {"global_user_id": g, "emails": [f"{g}@example.com"], "phones": [], "revenue": r,
         "orders": 1}
        for g, r in revenue.items()
    ]  # fmt: skip
    put_table(settings, "customer_360", rows, PEOPLE, PEOPLE_COLUMNS)


def events(settings: Settings, items: list[tuple[str, str, datetime]]) -> None:
    rows = [
        {"event_id": f"e{n}", "global_user_id": g, "event_type": "track", "event_name": name,
         "event_time": t, "event_date": t.date(), "properties": "{}"}
        for n, (g, name, t) in enumerate(items)
    ]  # fmt: skip
    put_table(settings, "unique_events", rows, EVENTS, EVENT_COLUMNS)


def entity(settings: Settings, name: str, text: str) -> Path:
    folder = settings.home / "entities"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(text)
    return path


def versions(settings: Settings) -> dict[str, int]:
    tables = TableStore(Lake(settings.lake_url))
    names = ("segment_members", "segment_changes", "segment_sizes", "funnel_people",
             "funnel_steps")  # fmt: skip
    return {n: s.version for n in names if (s := tables.current(n)) is not None}
