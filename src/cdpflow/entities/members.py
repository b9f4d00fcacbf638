"""segment_members and segment_changes rows, built in Arrow rather than SQL: a first run enters
millions of people, and the contacts of customer_360 are read once for all segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.engine import Engine
from cdpflow.engine.duckdb_scan import duckdb_type
from cdpflow.entities.comparisons import quote
from cdpflow.entities.compile import PEOPLE
from cdpflow.entities.tables import (
    CONTACT_FIELDS,
    CONTACT_SOURCES,
    SCHEMAS,
    SEGMENT_CHANGES,
    SEGMENT_MEMBERS,
    TS,
)
from cdpflow.lake.tables import TableStore


def _contact_columns(people: Mapping[str, str]) -> str:
    """The contact fields from customer_360 (as `c`) where it has them, typed NULLs where not."""
    out = []
    for name, kind in CONTACT_FIELDS:
        column = CONTACT_SOURCES.get(name, name)
        source = f"c.{quote(column)}" if column in people else "NULL"
        out.append(f"CAST({source} AS {duckdb_type(kind)}) AS {quote(name)}")
    return ", ".join(out)


def with_contacts(
    engine: Engine,
    tables: TableStore,
    people: Mapping[str, str],
    ids: Mapping[str, pa.Table],
    as_of: datetime,
) -> dict[str, pa.Table]:
    """Each segment's people (`ids`: name -> global_user_id) as segment_members rows, entered
    at `as_of` (a run then keeps the earlier time of people who stay), with their contact
    fields from customer_360 (`people`: its columns), read once for all segments; a person's
    first row where it has several. preview builds its rows here too, so it shows what a run
    writes."""
    if not ids:
        return {}
    contacts = engine.query(
        f"SELECT c.global_user_id, {_contact_columns(people)} FROM {PEOPLE} AS c", tables
    )
    known = contacts["global_user_id"].combine_chunks()
    out: dict[str, pa.Table] = {}
    for name, table in ids.items():
        members = table["global_user_id"]
        at = pc.index_in(members, value_set=known)
        n = len(members)
        out[name] = pa.table(
            {
                "segment": pa.repeat(pa.scalar(name, pa.string()), n),
                "global_user_id": members,
                "entered_at": pa.repeat(pa.scalar(as_of, TS), n),
                **{column: contacts[column].take(at) for column, _ in CONTACT_FIELDS},
            },
            schema=SCHEMAS[SEGMENT_MEMBERS],
        )
    return out


def change_rows(
    segment: str, ids: pa.ChunkedArray | pa.Array, change: str, at: datetime, run_id: str
) -> pa.Table:
    """segment_changes rows of `ids`, built in Arrow: a first run enters millions of people."""
    n = len(ids)
    return pa.table(
        {
            "segment": pa.repeat(pa.scalar(segment, pa.string()), n),
            "global_user_id": ids,
            "change": pa.repeat(pa.scalar(change, pa.string()), n),
            "at": pa.repeat(pa.scalar(at, TS), n),
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), n),
        },
        schema=SCHEMAS[SEGMENT_CHANGES],
    )
