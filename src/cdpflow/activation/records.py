"""The activation lake tables: what each channel acknowledged, what each run did, per person.

- `activation_state`: per destination and person, the identity sent (a hash), the channel's own
  id where the run learnt it (Meta: the hashed row it added; Klaviyo: the profile id a removal
  looked up, so empty on members' rows), a fingerprint of the fields sent, the
  status (`member`, `rejected`: refused for good until the fields change, `failed`: a transient
  failure retried next run, `removed`) and when it was acknowledged. A run appends one file per
  acknowledged batch, so a killed run resumes from its last batch, and folds its destination's
  files into one once superseded rows pile up (sync.py).
- `activation_log`: one row per person and action of a run, with the channel's answer.
- `activation_runs`: one row per run.
Destinations share the tables; a commit another destination's run got in first is simply
repeated on top of it, since each run only touches its own destination's files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from cdpflow.errors import ConcurrentCommitError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, Snapshot, TableStore, promote_rows
from cdpflow.lake.types import schema_columns

TS = pa.timestamp("us", tz="UTC")
STATE_TABLE, LOG_TABLE, RUNS_TABLE = "activation_state", "activation_log", "activation_runs"
STATE = pa.schema(
    [
        ("destination", pa.string()),
        ("global_user_id", pa.string()),
        ("identity_hash", pa.string()),
        ("channel_id", pa.string()),
        ("fingerprint", pa.string()),
        ("status", pa.string()),
        ("acknowledged_at", TS),
        ("run_id", pa.string()),
    ]
)
LOG = pa.schema(
    [
        ("run_id", pa.string()),
        ("destination", pa.string()),
        ("global_user_id", pa.string()),
        ("action", pa.string()),  # add, update, remove, skip
        ("status", pa.string()),  # ok, rejected, failed, skipped
        ("response_code", pa.int32()),
        ("error", pa.string()),
        ("logged_at", TS),
    ]
)
RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("destination", pa.string()),
        ("type", pa.string()),
        ("segment", pa.string()),
        ("started_at", TS),
        ("finished_at", TS),
        ("status", pa.string()),  # succeeded, failed, refused, dry_run
        ("extracted", pa.int64()),
        ("added", pa.int64()),
        ("updated", pa.int64()),
        ("removed", pa.int64()),
        ("skipped", pa.int64()),
        ("failed", pa.int64()),
        ("retried", pa.int64()),
        ("refused_reason", pa.string()),
        ("error", pa.string()),
    ]
)
SCHEMAS = {STATE_TABLE: STATE, LOG_TABLE: LOG, RUNS_TABLE: RUNS}


class ActivationTables:
    """Writes the activation tables of one destination."""

    def __init__(self, lake: Lake, destination: str) -> None:
        self.lake = lake
        self.tables = TableStore(lake)
        self.destination = destination

    def owned(self, f: DataFile) -> bool:
        return f.partition.get("destination") == self.destination

    def read(self, table: str) -> pa.Table:
        """This destination's rows of `table`, in the order they were committed."""
        snapshot = self.tables.current(table)
        schema = SCHEMAS[table]
        if snapshot is None:
            return schema.empty_table()
        parts = [
            self.lake.read_parquet(f"{table}/{f.path}", schema)
            for f in snapshot.files
            if self.owned(f)
        ]
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def uris(self, table: str) -> list[str]:
        """Where an engine reads this destination's files of `table`, in commit order."""
        snapshot = self.tables.current(table)
        files = snapshot.files if snapshot else ()
        return [self.lake.uri(f"{table}/{f.path}") for f in files if self.owned(f)]

    def append(self, table: str, rows: pa.Table, operation: str) -> None:
        if rows.num_rows:
            self.commit(table, [self.publish(table, rows)], operation)

    def replace_own(self, table: str, rows: pa.Table, operation: str) -> None:
        """Make `rows` the whole of this destination's part of `table`."""
        add = [self.publish(table, rows)] if rows.num_rows else []
        self.commit(table, add, operation, remove=self.owned)

    def publish(self, table: str, rows: pa.Table) -> DataFile:
        return promote_rows(
            self.lake,
            table,
            rows.cast(SCHEMAS[table]),
            owner=self.destination,
            partition={"destination": self.destination},
        )

    def commit(
        self,
        table: str,
        add: Iterable[DataFile],
        operation: str,
        remove: Callable[[DataFile], bool] = lambda f: False,
    ) -> Snapshot:
        files = list(add)
        for _ in range(20):
            base = self.tables.current(table)
            try:
                return self.tables.commit(
                    table,
                    base,
                    operation=operation,
                    add=files,
                    remove=remove,
                    columns=schema_columns(SCHEMAS[table]),
                )
            except ConcurrentCommitError:
                continue  # another destination committed first: ours touches other files
        raise ConcurrentCommitError(table, -1)
