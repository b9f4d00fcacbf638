"""The `report_runs` lake table: one row per attempt to send a report's slot.

A scan *claims* a slot before it renders or sends anything, by committing a `pending` row; the
commit is a new table version created exclusively, so of two scans that claim at once one wins
and the other, re-reading, finds the slot taken. The outcome then replaces the claim: `sent`
(never sent again), or `failed` (retried by the next scan). A claim whose scan died before it
recorded an outcome is left alone for CLAIM_LEASE, then taken over. The table is small (a row
per slot), so every commit rewrites it as one file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from cdpflow.errors import ConcurrentCommitError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore, promote_rows
from cdpflow.lake.types import schema_columns

TABLE = "report_runs"
PENDING, SENT, FAILED = "pending", "sent", "failed"
CLAIM_LEASE = timedelta(minutes=30)  # longer than rendering and sending one report takes
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("report", pa.string()),
        ("slot", TS),  # when the report fell due, by its cron
        ("status", pa.string()),  # pending, sent, failed
        ("sent_at", TS),
        ("recipients", pa.string()),  # comma-separated
        ("error", pa.string()),
        ("late", pa.bool_()),  # sent after the scan that should have sent it
        ("missed_slots", pa.int64()),  # earlier due slots this send stood in for
        ("claimed_at", TS),
        ("run_id", pa.string()),
    ]
)
COLUMNS = schema_columns(SCHEMA)
Row = dict[str, Any]


@dataclass(frozen=True)
class SlotState:
    """What the table says of one report's slot: its last row."""

    status: str
    claimed_at: datetime

    def taken(self, now: datetime) -> bool:
        """Sent, or claimed by a scan that may still be sending it."""
        return self.status == SENT or (
            self.status == PENDING and now - self.claimed_at < CLAIM_LEASE
        )


class ReportRuns:
    """Reads and claims slots in `report_runs`."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.store = TableStore(lake)

    def rows(self) -> list[Row]:
        snapshot = self.store.current(TABLE)
        if snapshot is None:
            return []
        parts = [self.lake.read_parquet(f"{TABLE}/{f.path}", SCHEMA) for f in snapshot.files]
        return pa.concat_tables(parts).to_pylist() if parts else []

    def slots(self, report: str) -> dict[datetime, SlotState]:
        """The state of each slot of `report` the table knows."""
        return slot_states(self.rows(), report)

    def claim(self, report: str, slot: datetime, recipients: str, now: datetime) -> str | None:
        """Claim `slot` of `report` for this scan: the claim's run id, or None when the slot
        is sent or another scan holds it."""
        run_id = uuid.uuid4().hex
        claim = _row(report, slot, PENDING, recipients, run_id, now)

        def add_claim(rows: list[Row]) -> list[Row] | None:
            state = slot_states(rows, report).get(slot)
            return None if state is not None and state.taken(now) else [*rows, claim]

        return run_id if self._update(add_claim) else None

    def record(
        self,
        report: str,
        slot: datetime,
        run_id: str,
        *,
        status: str,
        recipients: str,
        now: datetime,
        error: str | None = None,
        late: bool = False,
        missed_slots: int = 0,
    ) -> None:
        """Replace this scan's claim of `slot` (made at scan time `now`) with its outcome."""
        outcome = _row(report, slot, status, recipients, run_id, now)
        outcome.update(
            sent_at=datetime.now(UTC) if status == SENT else None,
            error=error,
            late=late,
            missed_slots=missed_slots,
        )

        def replace_claim(rows: list[Row]) -> list[Row]:
            kept = [r for r in rows if not (r["run_id"] == run_id and r["status"] == PENDING)]
            return [*kept, outcome]

        self._update(replace_claim)

    def _update(self, change: Callable[[list[Row]], list[Row] | None]) -> bool:
        """Commit `change` of the current rows (None: nothing to do), re-reading and trying
        again when another scan committed first, so the change always sees the latest rows."""
        for _ in range(50):
            base = self.store.current(TABLE)
            rows = change(self.rows())
            if rows is None:
                return False
            added = self._publish(rows)
            try:
                self.store.commit(
                    TABLE,
                    base,
                    operation="report_runs",
                    add=[added],
                    remove=lambda f: True,
                    columns=COLUMNS,
                )
                return True
            except ConcurrentCommitError:
                self.lake.remove(f"{TABLE}/{added.path}")
        raise ConcurrentCommitError(TABLE, -1)

    def _publish(self, rows: list[Row]) -> DataFile:
        return promote_rows(self.lake, TABLE, pa.Table.from_pylist(rows, SCHEMA))


def slot_states(rows: list[Row], report: str) -> dict[datetime, SlotState]:
    """Each slot's last row (rows are kept in the order they were written)."""
    states: dict[datetime, SlotState] = {}
    for row in rows:
        if row["report"] == report:
            states[row["slot"]] = SlotState(row["status"], row["claimed_at"])
    return states


def _row(
    report: str, slot: datetime, status: str, recipients: str, run_id: str, now: datetime
) -> Row:
    return {
        "report": report,
        "slot": slot,
        "status": status,
        "sent_at": None,
        "recipients": recipients,
        "error": None,
        "late": False,
        "missed_slots": 0,
        "claimed_at": now,
        "run_id": run_id,
    }
