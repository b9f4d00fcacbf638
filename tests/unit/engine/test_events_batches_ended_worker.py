"""A worker that dies mid-run fails the run as the group's error, whichever call meets it first
(the write it died in, or the next group's flatten queued behind it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdpflow.engine import FlattenCounts
from cdpflow.engine.duckdb_common import connect
from cdpflow.engine.duckdb_events_batches import EventsWorkerError, events_batches
from cdpflow.lake.raw_reader import RawFile

KEYS = pa.schema(
    [("event_id", pa.string()), ("received_at", pa.timestamp("us", tz="UTC")),
     ("raw_hour", pa.string()), ("raw_file", pa.string()), ("line_no", pa.int64()),
     ("item_index", pa.int64()), ("event_date", pa.date32())]
)  # fmt: skip


class DiesInItsFirstWrite:
    """Flattens (writes an empty keys file); killed once asked to write: the call after that
    finds it gone, as a process's socket would."""

    def __init__(self) -> None:
        self.dead = False
        self.answers: list[Any] = []

    def call(self, method: str, *args: Any) -> int:
        if self.dead:
            raise RuntimeError("worker process cdpflow-events-1 ended (exit code -9)")
        if method == "flatten":
            pq.write_table(KEYS.empty_table(), args[2])
            self.answers.append(FlattenCounts(events=0, quarantined=0))
        else:
            self.dead = True
            self.answers.append(RuntimeError("worker process cdpflow-events-1 ended"))
        return len(self.answers)

    def result(self, ticket: int) -> Any:
        answer = self.answers[ticket - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


def test_a_worker_dead_before_the_next_group_is_queued_fails_as_its_group(
    tmp_path: Path,
) -> None:
    groups = [
        [RawFile(f"raw/{h}.jsonl.gz", h, 1)]
        for h in ("2026-11-20T13", "2026-11-20T14", "2026-11-20T15")
    ]
    batches = events_batches(connect(), [DiesInItsFirstWrite()], groups, tmp_path / "scratch")
    first = next(batches)
    with pytest.raises(EventsWorkerError, match=r"raw hours 2026-11-20T13 .. 2026-11-20T13"):
        first.write([], "staged")
