"""events_incremental's groups of raw hours on DuckDB: flattened by the workers, deduplicated
here, written by the workers again.

A group's raw hours are shared out between the workers (cdpflow.engine.duckdb_workers); each
reads and flattens its hours into a temp table and writes the narrow keys the dedup needs to a
file. This process decides which copies lose (in DuckDB, which spills, so a huge raw hour does
not have to fit in memory), then each worker writes its own rows (all of an hour's rows are in
one worker, so an (event date, raw hour) is still one file). Two groups are in the workers at a
time, so they flatten one while this process deduplicates and commits the other. A small run
does the same in process.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from cdpflow.engine import EventsOutput, FlattenCounts
from cdpflow.engine.duckdb_common import literal
from cdpflow.engine.duckdb_workers import Worker
from cdpflow.errors import CdpflowError
from cdpflow.lake.raw_reader import RawFile


class EventsWorkerError(CdpflowError):
    """A worker failed on its share of a group; nothing of the group was committed."""

    def __init__(self, hours: Sequence[str], detail: str) -> None:
        self.hours = list(hours)
        super().__init__(
            f"Flattening raw hours {self.hours[0]} .. {self.hours[-1]} failed, so nothing of them "
            f"was committed (the run can be repeated): {detail}"
        )


def _share(files: Sequence[RawFile], workers: int) -> list[list[RawFile]]:
    """Whole raw hours per worker: runs of neighbouring hours when their loads come within 2%
    of sharing them out largest first to the least loaded, else that.

    Neighbouring hours make fewer files: a worker writes a file per event date of its share,
    so a share of every other hour of a group's days writes one for each day, and a run of
    hours one for each of its own days (small hours: about half the files, each written,
    published and later read for the dedup).
    """
    hours: dict[str, list[RawFile]] = {}
    for f in files:
        hours.setdefault(f.hour, []).append(f)
    loads = {hour: sum(f.size for f in hour_files) for hour, hour_files in hours.items()}
    largest_first = _largest_first(loads, workers)
    neighbours = _neighbours(loads, workers)
    spread = [
        max(sum(loads[h] for h in share) for share in way) for way in (largest_first, neighbours)
    ]
    chosen = neighbours if spread[1] <= spread[0] * 1.02 else largest_first
    return [[f for hour in share for f in hours[hour]] for share in chosen]


def _largest_first(loads: dict[str, int], workers: int) -> list[list[str]]:
    """Hours shared out largest first to the least loaded worker."""
    shares: list[list[str]] = [[] for _ in range(workers)]
    totals = [0] * workers
    for hour in sorted(loads, key=lambda h: -loads[h]):
        least = totals.index(min(totals))
        shares[least].append(hour)
        totals[least] += loads[hour]
    return shares


def _neighbours(loads: dict[str, int], workers: int) -> list[list[str]]:
    """Hours in order, cut into `workers` runs: an hour goes to the worker whose even part of
    the load holds the middle of the hour's load (workers left without hours come last)."""
    total = sum(loads.values())
    shares: list[list[str]] = [[] for _ in range(workers)]
    done = 0
    for hour in sorted(loads):
        middle = 2 * done + loads[hour]  # twice the middle, to stay in integers
        shares[min(workers - 1, middle * workers // (2 * total)) if total else 0].append(hour)
        done += loads[hour]
    return [share for share in shares if share] + [share for share in shares if not share]


def _call(worker: Worker, share: list[RawFile], method: str, *args: Any) -> int:
    """worker.call, a worker that has ended reported as its share's failure."""
    try:
        return worker.call(method, *args)
    except RuntimeError as err:
        raise EventsWorkerError(sorted({f.hour for f in share}), str(err)) from err


class DuckDBEventsBatch:
    """One group: its hours are flattened by the workers, into `table`, and then written; its
    dedup keys and losing copies pass through files in `scratch`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        workers: list[Worker],
        files: Sequence[RawFile],
        table: str,
        scratch: Path,
        start_next: Callable[[], None],
    ) -> None:
        self.con = con
        self.table = table
        self.scratch = scratch
        scratch.mkdir(parents=True)
        shares = _share(files, len(workers))
        self._busy = [
            (i, worker, share, _call(worker, share, "flatten", table, share, self._keys_path(i)))
            for i, (worker, share) in enumerate(zip(workers, shares, strict=True))
            if share
        ]
        self._start_next = start_next
        self._next_started = False
        self._flattened: list[FlattenCounts] | None = None

    def _keys_path(self, worker: int) -> Path:
        return self.scratch / f"keys-{worker}.parquet"

    def _answers(self) -> list[FlattenCounts]:
        if self._flattened is None:
            self._flattened = [self._answer(w, share, t) for _, w, share, t in self._busy]
        return self._flattened

    def _answer(self, worker: Worker, share: list[RawFile], ticket: int) -> Any:
        try:
            return worker.result(ticket)
        except RuntimeError as err:
            raise EventsWorkerError(sorted({f.hour for f in share}), str(err)) from err

    def flattened(self) -> FlattenCounts:
        total = FlattenCounts()
        for counts in self._answers():
            total.events += counts.events
            total.quarantined += counts.quarantined
        return total

    def _keys(self) -> str:
        """Every event's keys, with the worker that holds it."""
        self._answers()
        return " UNION ALL ".join(
            f"SELECT *, {i} AS worker FROM read_parquet({literal(str(self._keys_path(i)))})"
            for i, _, _, _ in self._busy
        )

    def event_date_range(self) -> tuple[str, str] | None:
        if not self._busy:
            return None
        ((low, high),) = self.con.execute(
            f"SELECT min(event_date)::VARCHAR, max(event_date)::VARCHAR FROM ({self._keys()})"
        ).fetchall()
        return None if low is None else (str(low), str(high))

    def write(self, existing_event_files: Sequence[str], staged: str) -> EventsOutput:
        output = EventsOutput()
        if not self._busy:
            self.start_next()
            return output
        self._write_losers(existing_event_files)
        tickets = [
            _call(
                worker,
                share,
                "write",
                self.table,
                self.scratch / f"losers-{i}.parquet",
                f"{staged}/{i}",
                self.scratch,  # where files wait for the lake when it is elsewhere
            )
            for i, worker, share, _ in self._busy
        ]
        # Queued behind this write, so the workers stay busy during the commit. A worker that
        # died cannot take it; then this group's own answer names the failure first.
        next_failed: EventsWorkerError | None = None
        try:
            self.start_next()
        except EventsWorkerError as err:
            next_failed = err
        for (_, worker, share, _), ticket in zip(self._busy, tickets, strict=True):
            events, quarantine = self._answer(worker, share, ticket)
            output.events += events
            output.quarantine += quarantine
        if next_failed is not None:
            raise next_failed
        written = sum(f.rows for f in output.events)
        output.duplicates = self.flattened().events - written
        return output

    def _write_losers(self, existing_event_files: Sequence[str]) -> None:
        """Write, per worker, the copies it must not write: every copy of an event already in
        core_events (from other raw hours), and all but the earliest received copy of an event
        seen more than once here."""
        if existing_event_files:
            listed = ", ".join(literal(f) for f in existing_event_files)
            existing = f"(SELECT event_id FROM read_parquet([{listed}]))"
        else:
            existing = "(SELECT NULL::VARCHAR AS event_id WHERE false)"
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _losers AS
            WITH keyed AS ({self._keys()}),
            repeated AS (
              SELECT * FROM keyed WHERE event_id IN (
                SELECT event_id FROM keyed GROUP BY event_id HAVING count(*) > 1)
            )
            SELECT worker, raw_file, line_no, item_index FROM (
              SELECT *, row_number() OVER (
                PARTITION BY event_id
                ORDER BY received_at NULLS LAST, raw_hour, raw_file, line_no, item_index
              ) AS copy_no
              FROM repeated
            ) WHERE copy_no > 1
            UNION
            SELECT worker, raw_file, line_no, item_index
            FROM keyed WHERE event_id IN {existing}"""
        ).fetchall()
        try:
            for i, _, _, _ in self._busy:
                path = literal(str(self.scratch / f"losers-{i}.parquet"))
                self.con.execute(
                    "COPY (SELECT raw_file, line_no, item_index FROM _losers "
                    f"WHERE worker = {i}) TO {path} (FORMAT parquet)"
                ).fetchall()
        finally:
            self.con.execute("DROP TABLE IF EXISTS _losers").fetchall()

    def start_next(self) -> None:
        if not self._next_started:
            self._next_started = True
            self._start_next()

    def drain(self) -> None:
        """Take the flattening's answers if the caller did not, so none is left waiting."""
        self._answers()

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def events_batches(
    con: duckdb.DuckDBPyConnection,
    workers: list[Worker],
    groups: Sequence[Sequence[RawFile]],
    scratch: Path,
) -> Iterator[DuckDBEventsBatch]:
    """A batch per group, in order. Two groups are in the workers at a time: while this
    process deduplicates one, they flatten the next; each write queues the one after."""
    queued: deque[DuckDBEventsBatch] = deque()
    position = 0

    def start_next() -> None:
        nonlocal position
        if position < len(groups):
            table = f"_flat_{position % 2}"
            group_scratch = scratch / f"group-{position}"
            position += 1
            group = groups[position - 1]
            queued.append(DuckDBEventsBatch(con, workers, group, table, group_scratch, start_next))

    try:
        start_next()
        start_next()
        while queued:
            batch = queued[0]
            yield batch
            queued.popleft()
            batch.drain()
            batch.close()
            batch.start_next()
    finally:  # after an error the engine is closed, which stops the workers
        for batch in queued:
            batch.close()
        shutil.rmtree(scratch, ignore_errors=True)
