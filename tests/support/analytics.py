"""Hand-built lake inputs for the analytics models: core_events rows and identities, as the
upstream jobs would have committed them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.events.schema import CORE_EVENTS_COLUMNS
from cdpflow.identity.schema import IDENTITIES, IDENTITY_MERGES
from cdpflow.identity.store import IDENTITY_KEY
from cdpflow.lake.merge_on_read import base_files, delta_file, layout_properties
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.lake.types import arrow_schema, schema_columns
from cdpflow.settings import Settings

CORE_SCHEMA = arrow_schema(CORE_EVENTS_COLUMNS)


def at(text: str) -> datetime:
    """`2024-03-04 10:00:00` as a UTC time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(
    event_id: str,
    when: str,
    *,
    anonymous_id: str | None = None,
    event_type: str = "page",
    **fields: Any,
) -> dict[str, Any]:
    """One core_events row; `when` is the event time, also its receive time unless
    `received_at` (same format) says otherwise."""
    time = at(when)
    received = fields.pop("received_at", None)
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "event_name": fields.pop("event_name", event_type),
        "event_time": time,
        "received_at": at(received) if received else time,
        "anonymous_id": anonymous_id,
        "source": "web",
        "payload_format": "segment",
        "event_date": time.date(),
        "url": fields.pop("url", "https://shop.example.com" + fields.get("path", "/")),
    }
    row.update(fields)
    return row


def purchase(event_id: str, when: str, order_id: str, revenue: float, **fields: Any) -> dict:
    return event(
        event_id,
        when,
        event_type="track",
        event_name="Order Completed",
        order_id=order_id,
        revenue=revenue,
        currency="USD",
        **fields,
    )


def add_events(settings: Settings, rows: Iterable[Mapping[str, Any]]) -> None:
    """Commit `rows` to core_events as one new file per event date (as events_incremental does)."""
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    by_date: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_date.setdefault(str(row["event_date"]), []).append(row)
    added = []
    for day, day_rows in sorted(by_date.items()):
        table = pa.Table.from_pylist(
            [{c: r.get(c) for c in CORE_SCHEMA.names} for r in day_rows], CORE_SCHEMA
        )
        rel = f"event_date={day}/part-{uuid.uuid4().hex[:12]}.parquet"
        size = _write(lake, f"core_events/{rel}", table)
        added.append(DataFile(rel, table.num_rows, size, "test", {"event_date": day}))
    tables.commit(
        "core_events",
        tables.current("core_events"),
        operation="test",
        add=added,
        columns=CORE_EVENTS_COLUMNS,
    )


def set_identities(settings: Settings, people: Mapping[str, Iterable[tuple[str, str]]]) -> None:
    """Replace the identities table: person -> its (identifier_type, value) pairs."""
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    table = _identity_rows(people)
    rel = f"part-{uuid.uuid4().hex[:12]}.parquet"
    size = _write(lake, f"identities/{rel}", table)
    tables.commit(
        "identities",
        tables.current("identities"),
        operation="test",
        add=[DataFile(rel, table.num_rows, size)],
        remove=lambda f: True,
        columns=schema_columns(IDENTITIES),
    )


def update_identities(settings: Settings, people: Mapping[str, Iterable[tuple[str, str]]]) -> None:
    """Re-assign identifiers to people as an identity run does: a merge-on-read delta over the
    identities table's base (the rows readers see change; the base files stay)."""
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    current = tables.get("identities")
    delta = _identity_rows(people)
    stored = pa.concat_tables(
        [lake.read_parquet(f"identities/{f.path}") for f in base_files(current)]
    )
    stored_keys = set(zip(*(stored[c].to_pylist() for c in IDENTITY_KEY), strict=True))
    superseded = len(
        stored_keys & set(zip(*(delta[c].to_pylist() for c in IDENTITY_KEY), strict=True))
    )
    rel = f"part-{uuid.uuid4().hex[:12]}.parquet"
    size = _write(lake, f"identities/{rel}", delta)
    tables.commit(
        "identities",
        current,
        operation="test",
        add=[delta_file(rel, delta.num_rows, size, "test")],
        properties=layout_properties(IDENTITY_KEY, superseded),
    )


def record_merges(settings: Settings, merges: Mapping[str, str]) -> None:
    """Append absorbed person -> surviving person rows to identity_merges, as an identity run
    that joined them does."""
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    merged_at = at("2024-03-10 00:00:00")
    table = pa.Table.from_pylist(
        [
            {"absorbed_id": a, "surviving_id": s, "merged_at": merged_at, "reason": "merge"}
            for a, s in merges.items()
        ],
        IDENTITY_MERGES,
    )
    rel = f"part-{uuid.uuid4().hex[:12]}.parquet"
    size = _write(lake, f"identity_merges/{rel}", table)
    tables.commit(
        "identity_merges",
        tables.current("identity_merges"),
        operation="test",
        add=[DataFile(rel, table.num_rows, size)],
        columns=schema_columns(IDENTITY_MERGES),
    )


def _identity_rows(people: Mapping[str, Iterable[tuple[str, str]]]) -> pa.Table:
    seen = at("2024-01-01 00:00:00")
    rows = [
        {
            "identifier_type": kind,
            "identifier_value": value,
            "global_user_id": person,
            "first_seen_at": seen,
            "last_seen_at": seen,
            "source": "test",
            "held_out": False,
        }
        for person, identifiers in people.items()
        for kind, value in identifiers
    ]
    return pa.Table.from_pylist(rows, IDENTITIES)


def _write(lake: Lake, rel: str, table: pa.Table) -> int:
    """Write a Parquet file into the lake, local or not; returns its size."""
    lake.makedirs(rel.rsplit("/", 1)[0])
    with lake.open(rel, "wb") as handle:
        pq.write_table(table, handle)
    return lake.size(rel)
