"""The lake tables entity_creation writes, and whole-table replacement that skips a version
when the rows did not change (so a run over unchanged data commits nothing)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, Snapshot, TableStore, promote_rows
from cdpflow.lake.types import schema_columns

TS = pa.timestamp("us", tz="UTC")
SEGMENT_MEMBERS, SEGMENT_CHANGES = "segment_members", "segment_changes"
SEGMENT_SIZES = "segment_sizes"
FUNNEL_PEOPLE, FUNNEL_STEPS = "funnel_people", "funnel_steps"
CONTACT_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("emails", pa.list_(pa.string())),
    ("phones", pa.list_(pa.string())),
    ("first_name", pa.string()),
    ("last_name", pa.string()),
    ("country", pa.string()),
    ("consent", pa.bool_()),
)
# the customer_360 column each contact field is filled from, where the names differ
CONTACT_SOURCES: Mapping[str, str] = {"consent": "accepts_marketing"}
SCHEMAS = {
    SEGMENT_MEMBERS: pa.schema(
        [
            ("segment", pa.string()),
            ("global_user_id", pa.string()),
            ("entered_at", TS),
            *CONTACT_FIELDS,
        ]
    ),
    SEGMENT_CHANGES: pa.schema(
        [
            ("segment", pa.string()),
            ("global_user_id", pa.string()),
            ("change", pa.string()),  # enter | exit
            ("at", TS),
            ("run_id", pa.string()),
        ]
    ),
    SEGMENT_SIZES: pa.schema(
        [
            ("segment", pa.string()),
            ("day", pa.date32()),
            ("size", pa.int64()),
            ("entered", pa.int64()),
            ("exited", pa.int64()),
        ]
    ),
    FUNNEL_PEOPLE: pa.schema(
        [
            ("funnel", pa.string()),
            ("global_user_id", pa.string()),
            ("entered_at", TS),
            ("furthest_step", pa.int32()),
            ("step_times", pa.list_(TS)),
            ("converted", pa.bool_()),
        ]
    ),
    FUNNEL_STEPS: pa.schema(
        [
            ("funnel", pa.string()),
            ("entry_day", pa.date32()),
            ("step", pa.int32()),
            ("step_label", pa.string()),
            ("users", pa.int64()),
            ("conversion_from_previous", pa.float64()),
            ("conversion_from_first", pa.float64()),
            ("median_seconds_from_previous", pa.float64()),
        ]
    ),
}
COLUMNS = {table: schema_columns(schema) for table, schema in SCHEMAS.items()}  # as recorded
SORT_KEYS = {
    SEGMENT_MEMBERS: ("segment", "global_user_id"),
    SEGMENT_SIZES: ("segment", "day"),
    FUNNEL_PEOPLE: ("funnel", "global_user_id"),
    FUNNEL_STEPS: ("funnel", "entry_day", "step"),
}


class EntityTables:
    """Reads and replaces entity_creation's tables; each commit is one atomic snapshot."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.tables = TableStore(lake)

    def read(self, table: str) -> pa.Table:
        snapshot = self.tables.current(table)
        schema = SCHEMAS[table]
        if snapshot is None or not snapshot.files:
            return schema.empty_table()
        parts = [self.lake.read_parquet(f"{table}/{f.path}", schema) for f in snapshot.files]
        return pa.concat_tables(parts)

    def publish(self, table: str, rows: pa.Table, owner: str = "") -> DataFile:
        typed = rows.select(SCHEMAS[table].names).cast(SCHEMAS[table])
        return promote_rows(self.lake, table, typed, owner=owner)

    def commit(
        self,
        table: str,
        operation: str,
        add: Sequence[DataFile] = (),
        remove: Callable[[DataFile], bool] = lambda f: False,
        properties: Mapping[str, Any] | None = None,
    ) -> Snapshot:
        base = self.tables.current(table)
        return self.tables.commit(
            table,
            base,
            operation=operation,
            add=add,
            remove=remove,
            columns=COLUMNS[table],
            properties=properties,
        )

    def replace(
        self,
        table: str,
        rows: pa.Table,
        operation: str,
        properties: Mapping[str, Any] | None = None,
    ) -> bool:
        """Make `rows` the whole table; False (and no new version) when they equal its rows."""
        schema = SCHEMAS[table]
        keys = [(k, "ascending") for k in SORT_KEYS[table]]
        new = rows.select(schema.names).cast(schema).sort_by(keys)
        snapshot = self.tables.current(table)
        if snapshot is not None and self.read(table).sort_by(keys).equals(new):
            return False
        add = [self.publish(table, new)] if new.num_rows else []
        self.commit(table, operation, add, remove=lambda f: True, properties=properties)
        return True
